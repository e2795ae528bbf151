// Package conformance holds the Ginkgo specs, one per catalogue requirement,
// and the harness they share: the harness's own mock Ollama, the proxy under
// test started through the launch contract, and request helpers that tag
// every request so the mock's record shows what the backend received.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// Harness is the state of one conformance run.
type Harness struct {
	cfg     Config
	Mock    *mockollama.Server
	Proxy   target.Instance
	Token   string
	client  *http.Client
	started []target.Instance // every instance this run started, for cleanup
}

// H is the harness of the running suite; specs read it, Run sets it.
var H *Harness

const readyTimeout = 15 * time.Second

func newHarness(cfg Config) *Harness {
	tr := &http.Transport{
		Proxy:               nil, // never route through an HTTP_PROXY from the environment
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
	}
	return &Harness{cfg: cfg, client: &http.Client{Transport: tr, CheckRedirect: noRedirect}}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// setUp starts the mock and the proxy under test; any error is the harness's.
func (h *Harness) setUp(ctx context.Context) error {
	listen := h.cfg.BackendListen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	m, err := mockollama.Start(listen, mockollama.Options{Seed: h.cfg.Seed})
	if err != nil {
		return fmt.Errorf("start the mock Ollama on %s: %w", listen, err)
	}
	h.Mock = m
	if u, ok := h.cfg.Target.(*target.URL); ok {
		h.Token = h.cfg.Token
		h.Proxy = u.Attached()
		return waitListening(ctx, h.Proxy.Addr(), nil)
	}
	h.Token = NewToken()
	inst, err := h.Start(ctx, h.Contract(h.Token, ""))
	if err != nil {
		return err
	}
	h.Proxy = inst
	return nil
}

func (h *Harness) tearDown() {
	for _, in := range h.started {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if in.Stop(ctx) != nil {
			_ = in.Kill()
		}
		cancel()
	}
	if h.Mock != nil {
		_ = h.Mock.Close()
	}
}

// BackendPort is the mock's port, the OLLAMA_BACKEND_PORT of every launch.
func (h *Harness) BackendPort() int {
	_, p, _ := net.SplitHostPort(h.Mock.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Contract returns the launch environment for a new instance on a free port.
// An empty token with a token file path selects the token-file capability.
func (h *Harness) Contract(token, tokenFile string) target.Launch {
	port := FreePort()
	env := map[string]string{
		"OLLAMA_PROXY_PORT":   strconv.Itoa(port),
		"OLLAMA_BACKEND_PORT": strconv.Itoa(h.BackendPort()),
	}
	if token != "" {
		env["OLLAMA_PROXY_TOKEN"] = token
	}
	if tokenFile != "" {
		env["OLLAMA_PROXY_TOKEN_FILE"] = tokenFile
	}
	return target.Launch{Env: env, Port: port}
}

// Start launches an instance and waits until it listens.
func (h *Harness) Start(ctx context.Context, l target.Launch) (target.Instance, error) {
	inst, err := h.Launch(l)
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, inst.Addr(), inst); err != nil {
		_ = inst.Kill()
		return nil, err
	}
	return inst, nil
}

// Launch starts an instance without waiting for it (start-up refusal specs).
func (h *Harness) Launch(l target.Launch) (target.Instance, error) {
	inst, err := h.cfg.Target.Start(context.Background(), l)
	if err != nil {
		return nil, fmt.Errorf("start the target: %w", err)
	}
	h.started = append(h.started, inst)
	return inst, nil
}

// waitListening polls until addr accepts TCP connections, the instance exits,
// or the timeout passes.
func waitListening(ctx context.Context, addr string, inst target.Instance) error {
	deadline := time.Now().Add(readyTimeout)
	var exited <-chan struct{}
	if inst != nil {
		exited = inst.Done()
	}
	for {
		if Listening(addr) {
			return nil
		}
		select {
		case <-exited:
			return &target.ExitError{Code: inst.ExitCode(), Output: inst.Output()}
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the proxy did not listen on %s within %s", addr, readyTimeout)
		}
	}
}

// Listening reports whether addr accepts a TCP connection right now.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// WaitClosed waits until nothing listens on addr.
func WaitClosed(addr string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !Listening(addr) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !Listening(addr)
}

// FreePort asks the kernel for a loopback port nobody uses right now.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("no free port: %v", err))
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NewToken makes a token shaped like the reference proxy's: 24 random bytes.
func NewToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
