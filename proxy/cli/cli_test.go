package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const tok = "cli-T0ken_abcdefghijklmnop"

// syncBuffer is a concurrency-safe output sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// countListens replaces listen for the test and counts calls.
func countListens(t *testing.T) *atomic.Int32 {
	var n atomic.Int32
	orig := listen
	listen = func(network, addr string) (net.Listener, error) {
		n.Add(1)
		return orig(network, addr)
	}
	t.Cleanup(func() { listen = orig })
	return &n
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("filetoken-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	blank := filepath.Join(dir, "blank")
	_ = os.WriteFile(blank, []byte(" \n\t\n"), 0o600)
	link := filepath.Join(dir, "link")
	_ = os.Symlink(good, link)

	tests := []struct {
		name string
		args []string
		env  []string
		want string // substring of the one stderr line
	}{
		{"no token", nil, nil, "no token"},
		{"empty env token", nil, []string{EnvToken, ""}, "no token"},
		{"blank env token", nil, []string{EnvToken, "  "}, "no token"},
		{"empty token flag", []string{"--token", ""}, []string{EnvToken, tok}, "--token is empty"},
		{"token with space", []string{"--token", "two words"}, nil, "token has characters"},
		{"port equals backend (env)", nil, []string{EnvToken, tok, EnvPort, "9000", EnvBackendPort, "9000"}, "equals the backend port"},
		{"port equals backend (flags)", []string{"--port", "9001", "--backend-port", "9001"}, []string{EnvToken, tok}, "equals the backend port"},
		{"port equals default backend", []string{"--port", "11434"}, []string{EnvToken, tok}, "equals the backend port"},
		{"port not a number", []string{"--port", "abc"}, []string{EnvToken, tok}, "not a port"},
		{"port zero", []string{"--port", "0"}, []string{EnvToken, tok}, "not a port"},
		{"port negative", []string{"--port", "-1"}, []string{EnvToken, tok}, "not a port"},
		{"port too large", []string{"--port", "65536"}, []string{EnvToken, tok}, "not a port"},
		{"env port malformed", nil, []string{EnvToken, tok, EnvPort, "11435x"}, "OLLAMA_PROXY_PORT"},
		{"env backend port out of range", nil, []string{EnvToken, tok, EnvBackendPort, "99999"}, "OLLAMA_BACKEND_PORT"},
		{"backend port zero", []string{"--backend-port", "0"}, []string{EnvToken, tok}, "not a port"},
		{"bad response header timeout", []string{"--response-header-timeout", "soon"}, []string{EnvToken, tok}, "--response-header-timeout"},
		{"negative response header timeout", []string{"--response-header-timeout", "-1s"}, []string{EnvToken, tok}, "positive duration"},
		{"zero shutdown grace", []string{"--shutdown-grace", "0"}, []string{EnvToken, tok}, "--shutdown-grace"},
		{"bad shutdown grace", []string{"--shutdown-grace", "30"}, []string{EnvToken, tok}, "--shutdown-grace"},
		{"unknown flag", []string{"--bogus"}, []string{EnvToken, tok}, "bogus"},
		{"positional argument", []string{"serve"}, []string{EnvToken, tok}, "unexpected argument"},
		{"bad log format", []string{"--log-format", "xml"}, []string{EnvToken, tok}, "--log-format"},
		{"bad log level", []string{"--log-level", "loud"}, []string{EnvToken, tok}, "--log-level"},
		{"bad strict value", nil, []string{EnvToken, tok, EnvStrict, "maybe"}, EnvStrict},
		{"empty token file flag", []string{"--token-file", ""}, nil, "--token-file is empty"},
		{"empty token file", nil, []string{EnvTokenFile, empty}, "is empty"},
		{"whitespace token file", nil, []string{EnvTokenFile, blank}, "only whitespace"},
		{"symlink token file", []string{"--token-file", link}, nil, "symlink"},
		{"directory as token file", []string{"--token-file", dir}, nil, "not a regular file"},
		{"empty env token, bad file", nil, []string{EnvToken, "", EnvTokenFile, empty}, "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listens := countListens(t)
			var stdout, stderr syncBuffer
			code := Main(context.Background(), tt.args, envOf(tt.env...), &stdout, &stderr)
			if code != ExitConfig {
				t.Errorf("exit code %d, want 2", code)
			}
			errOut := stderr.String()
			if strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") || !strings.HasPrefix(errOut, "ollama-auth-proxy: ") {
				t.Errorf("stderr is not one line: %q", errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q does not mention %q", errOut, tt.want)
			}
			if strings.Contains(errOut, tok) || strings.Contains(errOut, "goroutine") {
				t.Errorf("stderr leaks: %q", errOut)
			}
			if n := listens.Load(); n != 0 {
				t.Errorf("listened %d times", n)
			}
			if stdout.String() != "" {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}

// running is a Main started in the background.
type running struct {
	port   int
	stderr *syncBuffer
	cancel context.CancelFunc
	code   chan int
}

func startMain(t *testing.T, args []string, env func(string) (string, bool)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stderr: &syncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	for i, a := range args {
		if a == "--port" {
			r.port, _ = strconv.Atoi(args[i+1])
		}
	}
	go func() { r.code <- Main(ctx, args, env, io.Discard, r.stderr) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case code := <-r.code:
			t.Fatalf("Main exited %d: %s", code, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy never listened: %s", r.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) int {
	r.cancel()
	select {
	case code := <-r.code:
		r.code <- code
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after cancel")
		return -1
	}
}

func (r *running) get(t *testing.T, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", r.port, path), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func backendPort(t *testing.T) int {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"models":[]}`)
	}))
	t.Cleanup(be.Close)
	return be.Listener.Addr().(*net.TCPAddr).Port
}

func TestRunAndGracefulExit(t *testing.T) {
	bport := backendPort(t)
	port := freePort(t)
	r := startMain(t, []string{"--port", strconv.Itoa(port)},
		envOf(EnvToken, tok, EnvBackendPort, strconv.Itoa(bport)))
	if got := r.get(t, "/api/version", tok); got != 200 {
		t.Errorf("with token: %d", got)
	}
	if got := r.get(t, "/api/version", ""); got != 401 {
		t.Errorf("without token: %d", got)
	}
	if got := r.get(t, "/api/tags", ""); got != 200 {
		t.Errorf("health exemption: %d", got)
	}
	if code := r.stop(t); code != ExitOK {
		t.Errorf("exit code %d", code)
	}
	logs := r.stderr.String()
	for _, want := range []string{"listening", fmt.Sprintf("0.0.0.0:%d", port), fmt.Sprintf("127.0.0.1:%d", bport), "health_exemption=\"on", "env OLLAMA_PROXY_TOKEN"} {
		if !strings.Contains(logs, want) {
			t.Errorf("startup log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, tok) {
		t.Error("token in logs")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Error("port still open after exit")
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	bport := backendPort(t)
	envPort, flagPort := freePort(t), freePort(t)
	r := startMain(t, []string{"--port", strconv.Itoa(flagPort), "--token", "flag-token-0123456789", "--no-health-exemption", "--log-format", "json", "--log-level", "debug"},
		envOf(EnvToken, tok, EnvPort, strconv.Itoa(envPort), EnvBackendPort, strconv.Itoa(bport), EnvStrict, "0"))
	if got := r.get(t, "/api/version", "flag-token-0123456789"); got != 200 {
		t.Errorf("flag token: %d", got)
	}
	if got := r.get(t, "/api/version", tok); got != 401 {
		t.Errorf("env token: %d, want 401", got)
	}
	if got := r.get(t, "/api/tags", ""); got != 401 {
		t.Errorf("--no-health-exemption ignored: %d", got)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", envPort), 200*time.Millisecond); err == nil {
		c.Close()
		t.Error("listening on the env port too")
	}
	r.stop(t)
	lines := strings.Split(strings.TrimSpace(r.stderr.String()), "\n")
	sawAccess := false
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if m["msg"] == "request" && m["path"] == "/api/version" {
			sawAccess = true
		}
	}
	if !sawAccess {
		t.Errorf("no debug access log:\n%s", r.stderr.String())
	}
	if strings.Contains(r.stderr.String(), "flag-token-0123456789") || strings.Contains(r.stderr.String(), tok) {
		t.Error("token in logs")
	}
}

func TestStrictEnv(t *testing.T) {
	bport := backendPort(t)
	r := startMain(t, []string{"--port", strconv.Itoa(freePort(t))},
		envOf(EnvToken, tok, EnvBackendPort, strconv.Itoa(bport), EnvStrict, "1"))
	if got := r.get(t, "/api/tags", ""); got != 401 {
		t.Errorf("OLLAMA_PROXY_STRICT=1 ignored: %d", got)
	}
}

func TestTokenFileSurvivesRestart(t *testing.T) {
	bport := backendPort(t)
	path := filepath.Join(t.TempDir(), "state", "ollama-proxy-token")
	port := freePort(t)
	args := []string{"--port", strconv.Itoa(port), "--backend-port", strconv.Itoa(bport)}
	env := envOf(EnvTokenFile, path, EnvToken, "")
	r := startMain(t, args, env)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(data))
	if got := r.get(t, "/api/version", token); got != 200 {
		t.Errorf("file token: %d", got)
	}
	if !strings.Contains(r.stderr.String(), "(created)") || strings.Contains(r.stderr.String(), token) {
		t.Errorf("startup log:\n%s", r.stderr.String())
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	r2 := startMain(t, args, env)
	if got := r2.get(t, "/api/version", token); got != 200 {
		t.Errorf("file token after restart: %d", got)
	}
	if strings.Contains(r2.stderr.String(), "(created)") {
		t.Error("token file re-created on restart")
	}
}

func TestCannotListen(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var stderr syncBuffer
	code := Main(context.Background(), []string{"--port", strconv.Itoa(port)}, envOf(EnvToken, tok), io.Discard, &stderr)
	if code != ExitRuntime || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "cannot listen") {
		t.Errorf("code %d, stderr %q", code, stderr.String())
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out, errOut syncBuffer
	if code := Main(context.Background(), []string{"--version"}, envOf(), &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "ollama-auth-proxy ") {
		t.Errorf("--version: %d %q %q", code, out.String(), errOut.String())
	}
	out = syncBuffer{}
	if code := Main(context.Background(), []string{"--help"}, envOf(), &out, &errOut); code != 0 {
		t.Errorf("--help: %d", code)
	}
	for _, want := range []string{"-token", "-token-file", "-port", "-backend-port", "-no-health-exemption",
		"-response-header-timeout", "-shutdown-grace", "-log-format", "-log-level", "-version",
		EnvToken, EnvTokenFile, EnvPort, EnvBackendPort, EnvStrict, "11435", "11434", "Exit status", "token [--token-file PATH] [--rotate]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	if errOut.String() != "" {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestTokenSubcommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "token")
	run := func(args []string, env func(string) (string, bool)) (int, string, string) {
		var out, errOut syncBuffer
		code := Main(context.Background(), append([]string{"token"}, args...), env, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, first, _ := run([]string{"--token-file", path}, envOf())
	if code != 0 || len(strings.TrimSpace(first)) != 32 {
		t.Fatalf("create: %d %q", code, first)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi.Mode(), err)
	}
	code, again, _ := run(nil, envOf(EnvTokenFile, path))
	if code != 0 || again != first {
		t.Errorf("reuse via env: %d %q, want %q", code, again, first)
	}
	code, rotated, _ := run([]string{"--token-file", path, "--rotate"}, envOf())
	if code != 0 || rotated == first || len(strings.TrimSpace(rotated)) != 32 {
		t.Errorf("rotate: %d %q", code, rotated)
	}
	if data, _ := os.ReadFile(path); string(data) != rotated {
		t.Errorf("file %q after rotate, printed %q", data, rotated)
	}
	if code, out, errOut := run(nil, envOf()); code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
		t.Errorf("no path: %d %q %q", code, out, errOut)
	}
	link := filepath.Join(dir, "link")
	_ = os.Symlink(path, link)
	if code, _, errOut := run([]string{"--token-file", link, "--rotate"}, envOf()); code != 2 || !strings.Contains(errOut, "symlink") {
		t.Errorf("rotate through symlink: %d %q", code, errOut)
	}
	if code, _, _ := run([]string{"--bogus"}, envOf()); code != 2 {
		t.Errorf("unknown flag: %d", code)
	}
	if code, out, _ := run([]string{"--help"}, envOf()); code != 0 || !strings.Contains(out, "--rotate") {
		t.Errorf("token --help: %d %q", code, out)
	}
}

func TestSubcommandAfterFlags(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"--no-health-exemption", "ensure", "--state-dir", "d"}, []string{"ensure", "--no-health-exemption", "--state-dir", "d"}},
		{[]string{"--port=1", "stop"}, []string{"stop", "--port=1"}},
		{[]string{"--port", "1", "stop"}, []string{"--port", "1", "stop"}},
		{[]string{"ensure"}, []string{"ensure"}},
		{[]string{"--no-health-exemption"}, []string{"--no-health-exemption"}},
		{[]string{"--rotate", "token"}, []string{"token", "--rotate"}},
		{[]string{"--no-health-exemption", "token", "--rotate"}, []string{"token", "--rotate"}},
	}
	for _, c := range cases {
		if got := subcommandFirst(c.in); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("subcommandFirst(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
