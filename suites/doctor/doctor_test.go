package doctor

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/proxy"
)

func serve(t *testing.T, addr string, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func fakeOllama() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"models":[]}`)) })
}

// realProxy serves the reference proxy handler on loopback in front of backend.
func realProxy(t *testing.T, backend int, token string) int {
	t.Helper()
	h, err := proxy.NewHandler(proxy.Config{BackendAddr: "127.0.0.1:" + itoa(backend), Token: token, HealthExempt: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return serve(t, "127.0.0.1:0", h)
}

func itoa(n int) string { return strconv.Itoa(n) }

func tokenFileWith(t *testing.T, dirMode, fileMode os.FileMode) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, dirMode); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, dirMode)
	path := filepath.Join(dir, "token")
	tok, _ := proxy.NewToken()
	if err := os.WriteFile(path, []byte(tok+"\n"), fileMode); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(path, fileMode)
	return path, tok
}

func verdicts(r Report) map[string]Check {
	m := map[string]Check{}
	for _, c := range r.Checks {
		m[c.ID] = c
	}
	return m
}

func TestHealthyHostPasses(t *testing.T) {
	backend := serve(t, "127.0.0.1:0", fakeOllama())
	path, tok := tokenFileWith(t, 0o700, 0o600)
	p := realProxy(t, backend, tok)
	r := Run(context.Background(), Options{ProxyPort: p, BackendPort: backend, TokenFile: path})
	if !r.OK {
		t.Fatalf("a healthy host failed: %+v", r.Checks)
	}
	for _, c := range r.Checks {
		if c.Verdict != Pass {
			t.Errorf("%s: %s %s", c.ID, c.Verdict, c.Detail)
		}
	}
}

func TestOllamaOnAllInterfacesIsFlagged(t *testing.T) {
	backend := serve(t, "0.0.0.0:0", fakeOllama())
	path, tok := tokenFileWith(t, 0o700, 0o600)
	p := realProxy(t, backend, tok)
	r := Run(context.Background(), Options{ProxyPort: p, BackendPort: backend, TokenFile: path})
	c := verdicts(r)["ollama-loopback-only"]
	if r.OK || c.Verdict != Fail || !strings.Contains(c.Detail, "0.0.0.0") || !strings.Contains(c.Fix, "OLLAMA_HOST=127.0.0.1") {
		t.Fatalf("Ollama on 0.0.0.0 not flagged: %+v", c)
	}
}

func TestOpenPortAndLooseTokenFileAndWrongToken(t *testing.T) {
	backend := serve(t, "127.0.0.1:0", fakeOllama())
	// The "proxy" port is Ollama itself: no authentication.
	open := serve(t, "127.0.0.1:0", fakeOllama())
	path, _ := tokenFileWith(t, 0o755, 0o644)
	r := Run(context.Background(), Options{ProxyPort: open, BackendPort: backend, TokenFile: path})
	v := verdicts(r)
	if r.OK || v["proxy-demands-token"].Verdict != Fail || !strings.Contains(v["proxy-demands-token"].Detail, "200") {
		t.Errorf("open port: %+v", v["proxy-demands-token"])
	}
	tf := v["token-file"]
	if tf.Verdict != Fail || !strings.Contains(tf.Detail, "0644") || !strings.Contains(tf.Detail, "0755") || tf.Fix == "" {
		t.Errorf("loose token file: %+v", tf)
	}

	// A real proxy holding another token.
	path2, _ := tokenFileWith(t, 0o700, 0o600)
	p := realProxy(t, backend, "another-token-abcdefghijklmnop")
	v = verdicts(Run(context.Background(), Options{ProxyPort: p, BackendPort: backend, TokenFile: path2}))
	if v["token-accepted"].Verdict != Fail || !strings.Contains(v["token-accepted"].Detail, "401") {
		t.Errorf("wrong token: %+v", v["token-accepted"])
	}
	if v["proxy-demands-token"].Verdict != Pass || v["exempt-route"].Verdict != Pass {
		t.Errorf("the proxy itself is fine: %+v", v)
	}
	if v := verdicts(Run(context.Background(), Options{ProxyPort: p, BackendPort: backend, TokenFile: path2, Strict: true})); v["exempt-route"].Verdict != Fail {
		t.Errorf("--strict with an exempt /api/tags: %+v", v["exempt-route"])
	}
}

func TestNothingRunning(t *testing.T) {
	l1, _ := net.Listen("tcp4", "127.0.0.1:0")
	l2, _ := net.Listen("tcp4", "127.0.0.1:0")
	p1, p2 := l1.Addr().(*net.TCPAddr).Port, l2.Addr().(*net.TCPAddr).Port
	l1.Close()
	l2.Close()
	r := Run(context.Background(), Options{ProxyPort: p1, BackendPort: p2, TokenFile: filepath.Join(t.TempDir(), "missing")})
	v := verdicts(r)
	if r.OK || v["ollama-loopback-only"].Verdict != Fail || v["proxy-demands-token"].Verdict != Fail || v["token-file"].Verdict != Fail || v["token-accepted"].Verdict != Skip {
		t.Fatalf("%+v", r.Checks)
	}
	for _, c := range r.Checks {
		if c.Verdict == Fail && c.Fix == "" {
			t.Errorf("%s fails without a fix", c.ID)
		}
	}
}

func TestContainerOptionWithoutChecker(t *testing.T) {
	r := Run(context.Background(), Options{ProxyPort: 1, BackendPort: 2, TokenFile: "/nonexistent", Container: true})
	if c := verdicts(r)["container"]; c.Verdict != Skip {
		t.Errorf("%+v", c)
	}
}
