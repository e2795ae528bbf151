package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "s3cr3t-T0ken_xyz.AB~c+d/e=="

// seenRequest is what the backend received.
type seenRequest struct {
	Method     string
	RequestURI string
	Host       string
	Header     http.Header
	Body       []byte
	Chunked    bool
}

// backend is an httptest server that records every request and then runs an
// optional handler (default: 200 {"ok":true}).
type backend struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newBackend(t testing.TB, next http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.seen = append(b.seen, seenRequest{
			Method: r.Method, RequestURI: r.RequestURI, Host: r.Host,
			Header: r.Header.Clone(), Body: body,
			Chunked: len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked",
		})
		b.mu.Unlock()
		if next != nil {
			next(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.seen...)
}

func (b *backend) addr() string { return b.Listener.Addr().String() }

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testProxy is a running proxy in front of a backend.
type testProxy struct {
	addr    string
	handler *Handler
	logs    *logBuffer
	cancel  context.CancelFunc
	done    chan error
}

// startProxy serves a proxy on a loopback port until the test ends. cfg's
// Token defaults to testToken and BackendAddr must be set.
func startProxy(t testing.TB, cfg Config) *testProxy {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddr = ln.Addr().String()
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &testProxy{addr: ln.Addr().String(), handler: h, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- Serve(ctx, ln, h, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Error("proxy did not shut down")
		}
	})
	return p
}

func (p *testProxy) url(path string) string { return "http://" + p.addr + path }

// rawResponse sends raw bytes on a fresh connection and parses one response.
func rawResponse(t testing.TB, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(raw, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response to %q: %v", raw, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// rawGet builds a raw HTTP/1.1 request with the given request line start and
// extra header lines.
func rawReq(method, target string, headers ...string) string {
	var sb strings.Builder
	sb.WriteString(method + " " + target + " HTTP/1.1\r\nHost: proxy.test\r\n")
	for _, h := range headers {
		sb.WriteString(h + "\r\n")
	}
	sb.WriteString("Connection: close\r\n\r\n")
	return sb.String()
}

// assertUnauthorized checks the full 401 contract.
func assertUnauthorized(t testing.TB, resp *http.Response, body []byte, head bool) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401 (body %q)", resp.StatusCode, body)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="ollama"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if !head && string(body) != `{"error":"unauthorized"}` {
		t.Errorf("body = %q", body)
	}
}
