// Package doctor checks a live host running Ollama behind an authenticating
// proxy: no mock, only what is really listening. Each check gives a verdict
// and, when it fails, the fix.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/proxy/lifecycle"
)

// Verdicts.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

// Check is one verdict.
type Check struct {
	ID      string `json:"id"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
}

// Options says where to look.
type Options struct {
	ProxyPort   int
	BackendPort int
	TokenFile   string
	Strict      bool // the proxy has no health exemption: GET /api/tags must be 401
	// Container runs the container checks through ContainerCheck when set.
	Container      bool
	ContainerCheck func(ctx context.Context, proxyPort, backendPort int, token string) []Check
}

// Report is every check in order.
type Report struct {
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

// Run performs the checks.
func Run(ctx context.Context, o Options) Report {
	var r Report
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	add(backendLoopback(o.BackendPort))
	add(proxyIsAuthProxy(ctx, o.ProxyPort))
	tf, token := tokenFile(o.TokenFile)
	add(tf)
	add(tokenAccepted(ctx, o.ProxyPort, token, o.TokenFile))
	add(exemptRoute(ctx, o.ProxyPort, o.Strict))
	if o.Container {
		if o.ContainerCheck == nil {
			add(Check{ID: "container", Verdict: Skip, Detail: "container checks are not available in this build"})
		} else {
			for _, c := range o.ContainerCheck(ctx, o.ProxyPort, o.BackendPort, token) {
				add(c)
			}
		}
	}
	r.OK = true
	for _, c := range r.Checks {
		if c.Verdict == Fail {
			r.OK = false
		}
	}
	return r
}

func backendLoopback(port int) Check {
	c := Check{ID: "ollama-loopback-only"}
	socks, err := lifecycle.Listeners(port)
	if err != nil {
		c.Verdict, c.Detail = Skip, err.Error()
		return c
	}
	if len(socks) == 0 {
		c.Verdict = Fail
		c.Detail = fmt.Sprintf("nothing listens on port %d: Ollama is not running (or uses another port)", port)
		c.Fix = fmt.Sprintf("start Ollama bound to loopback: OLLAMA_HOST=127.0.0.1:%d ollama serve (or pass --backend-port)", port)
		return c
	}
	var all, exposed []string
	for _, s := range socks {
		all = append(all, s.String())
		if !s.Loopback() {
			exposed = append(exposed, s.String())
		}
	}
	if len(exposed) > 0 {
		c.Verdict = Fail
		c.Detail = fmt.Sprintf("Ollama listens on %s: anyone who can reach this host, containers included, bypasses the proxy", strings.Join(exposed, ", "))
		c.Fix = fmt.Sprintf("bind Ollama to loopback only: OLLAMA_HOST=127.0.0.1:%d (systemd: `systemctl edit ollama`, Environment=\"OLLAMA_HOST=127.0.0.1:%d\"), then restart it", port, port)
		return c
	}
	c.Verdict, c.Detail = Pass, "Ollama listens only on "+strings.Join(all, ", ")
	return c
}

var client = &http.Client{
	Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext},
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func get(ctx context.Context, port int, path, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(port)+path, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func proxyIsAuthProxy(ctx context.Context, port int) Check {
	c := Check{ID: "proxy-demands-token"}
	code, err := get(ctx, port, lifecycle.ProbePath, "")
	switch {
	case err != nil:
		c.Verdict = Fail
		c.Detail = fmt.Sprintf("nothing answers on 127.0.0.1:%d (%v)", port, oneLine(err))
		c.Fix = "start the proxy: ollama-auth-proxy ensure (or pass --port)"
	case code != http.StatusUnauthorized:
		c.Verdict = Fail
		c.Detail = fmt.Sprintf("GET %s without a token on port %d answered %d, not 401: this is not an authenticating proxy (Ollama itself, or an open proxy)", lifecycle.ProbePath, port, code)
		c.Fix = "free the port and run ollama-auth-proxy there; never expose Ollama on the proxy port"
		if owners, _ := lifecycle.PortOwners(port); len(owners) > 0 {
			c.Detail += "; held by " + owners[0].String()
		}
	default:
		c.Verdict, c.Detail = Pass, fmt.Sprintf("port %d answers 401 without a token", port)
	}
	return c
}

func tokenFile(path string) (Check, string) {
	c := Check{ID: "token-file"}
	fix := fmt.Sprintf("chmod 700 %s && chmod 600 %s (or let ollama-auth-proxy create it: ollama-auth-proxy token --token-file %s)", filepath.Dir(path), path, path)
	fi, err := os.Lstat(path)
	if err != nil {
		c.Verdict, c.Fix = Fail, fix
		if errors.Is(err, fs.ErrNotExist) {
			c.Detail = path + " does not exist"
		} else {
			c.Detail = oneLine(err)
		}
		return c, ""
	}
	var problems []string
	if !fi.Mode().IsRegular() {
		problems = append(problems, "not a regular file (a symlink?)")
	} else if p := fi.Mode().Perm(); p != 0o600 {
		problems = append(problems, fmt.Sprintf("mode %04o, want 0600", p))
	}
	if di, err := os.Stat(filepath.Dir(path)); err == nil && di.Mode().Perm() != 0o700 {
		problems = append(problems, fmt.Sprintf("its directory has mode %04o, want 0700", di.Mode().Perm()))
	}
	var token string
	if fi.Mode().IsRegular() {
		if b, err := os.ReadFile(path); err != nil {
			problems = append(problems, "unreadable: "+oneLine(err))
		} else if token = strings.TrimSpace(string(b)); token == "" {
			problems = append(problems, "empty")
		}
	}
	if len(problems) > 0 {
		c.Verdict, c.Detail, c.Fix = Fail, path+": "+strings.Join(problems, "; "), fix
		return c, token
	}
	c.Verdict, c.Detail = Pass, path+": mode 0600 in a 0700 directory"
	return c, token
}

func tokenAccepted(ctx context.Context, port int, token, path string) Check {
	c := Check{ID: "token-accepted"}
	if token == "" {
		c.Verdict, c.Detail = Skip, "no token to try (see token-file)"
		return c
	}
	code, err := get(ctx, port, lifecycle.ProbePath, token)
	switch {
	case err != nil:
		c.Verdict, c.Detail = Fail, "no answer with the token: "+oneLine(err)
		c.Fix = "start the proxy: ollama-auth-proxy ensure"
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		c.Verdict = Fail
		c.Detail = fmt.Sprintf("the proxy answered %d to the token in %s: it runs with another token", code, path)
		c.Fix = "ollama-auth-proxy ensure (replaces our own stale proxy), or send it SIGHUP to re-read the token file"
	case code == http.StatusBadGateway:
		c.Verdict = Fail
		c.Detail = "the token is accepted, but the proxy answers 502: Ollama is not reachable behind it"
		c.Fix = "start Ollama on 127.0.0.1 and the port the proxy forwards to"
	default:
		c.Verdict, c.Detail = Pass, fmt.Sprintf("the token in %s is accepted (%d)", path, code)
	}
	return c
}

func exemptRoute(ctx context.Context, port int, strict bool) Check {
	c := Check{ID: "exempt-route"}
	code, err := get(ctx, port, "/api/tags", "")
	want := http.StatusOK
	if strict {
		want = http.StatusUnauthorized
	}
	switch {
	case err != nil:
		c.Verdict, c.Detail = Fail, "no answer: "+oneLine(err)
		c.Fix = "start the proxy: ollama-auth-proxy ensure"
	case code != want && strict:
		c.Verdict, c.Detail = Fail, fmt.Sprintf("GET /api/tags without a token answered %d; with --strict it must be 401", code)
		c.Fix = "start the proxy with --no-health-exemption"
	case code != want:
		c.Verdict, c.Detail = Fail, fmt.Sprintf("GET /api/tags without a token answered %d, want 200 (health checks use it)", code)
		c.Fix = "if the proxy runs with --no-health-exemption on purpose, run doctor --strict; if 502, start Ollama"
	default:
		c.Verdict, c.Detail = Pass, fmt.Sprintf("GET /api/tags without a token answered %d", code)
	}
	return c
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
