package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Micro-benchmarks of the request path. They measure cost (ns/op, B/op,
// allocs/op); they assert nothing about speed. `make bench` runs them.

const benchTok = "bench-T0ken_abcdefghijklmnopqrstuvwxyz012345"

func benchRequest(method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func BenchmarkAuthorized(b *testing.B) {
	want := digestOf(benchTok)
	cases := []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"valid", benchRequest("POST", "/api/generate", "Authorization", "Bearer "+benchTok), true},
		{"wrong", benchRequest("POST", "/api/generate", "Authorization", "Bearer "+strings.ToUpper(benchTok)), false},
		{"missing", benchRequest("POST", "/api/generate"), false},
		{"basic", benchRequest("POST", "/api/generate", "Authorization", "Basic dXNlcjpwYXNz"), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if authorized(c.r, want) != c.ok {
					b.Fatal("unexpected verdict")
				}
			}
		})
	}
}

func BenchmarkExemptionMatch(b *testing.B) {
	cases := []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"health", benchRequest("GET", "/api/tags"), true},
		{"variant", benchRequest("GET", "/api/tags/"), false},
		{"generate", benchRequest("POST", "/api/generate"), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if IsExempt(c.r) != c.ok {
					b.Fatal("unexpected verdict")
				}
			}
		})
	}
}

func BenchmarkScrubRequestHeaders(b *testing.B) {
	src := http.Header{
		"Authorization":     {"Bearer " + benchTok},
		"Content-Type":      {"application/json"},
		"Accept":            {"application/x-ndjson"},
		"User-Agent":        {"ollama/0.12.6 (amd64 linux) Go/go1.26"},
		"X-Forwarded-For":   {"203.0.113.9"},
		"X-Forwarded-Proto": {"https"},
		"Forwarded":         {"for=203.0.113.9"},
		"X-Real-Ip":         {"203.0.113.9"},
	}
	h := make(http.Header, len(src))
	b.ReportAllocs()
	for b.Loop() {
		for k, v := range src {
			h[k] = v
		}
		scrubRequestHeaders(h)
		if len(h) != 3 {
			b.Fatalf("left %v", h)
		}
	}
}

// BenchmarkProxiedRequest is a full round trip over loopback: client ->
// Handler (served by Serve) -> a small JSON backend, on keep-alive
// connections. "rejected" stops at the 401.
func BenchmarkProxiedRequest(b *testing.B) {
	body := []byte(`{"model":"llama3.2:1b","created_at":"2026-01-01T00:00:00Z","response":"Rayleigh scattering.","done":true}` + "\n")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}))
	defer backend.Close()
	h, err := NewHandler(Config{BackendAddr: backend.Listener.Addr().String(), Token: benchTok, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = Serve(ctx, ln, h, Config{ShutdownGrace: time.Second}); close(done) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String() + "/api/generate"
	reqBody := []byte(`{"model":"llama3.2:1b","prompt":"Why is the sky blue?","stream":false}`)

	for _, c := range []struct {
		name   string
		auth   bool
		status int
	}{{"proxied", true, 200}, {"rejected", false, 401}} {
		b.Run(c.name, func(b *testing.B) {
			tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(reqBody))
					req.Header.Set("Content-Type", "application/json")
					if c.auth {
						req.Header.Set("Authorization", "Bearer "+benchTok)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != c.status {
						b.Errorf("status %d, want %d", resp.StatusCode, c.status)
						return
					}
				}
			})
		})
	}
}

// The two tests below guard the request-path changes that came out of
// profiling: a body of known length is still flushed within
// knownLengthFlushInterval, and a small body that never fully arrives is
// never forwarded as complete.

func benchProxy(t *testing.T, backend http.Handler) (string, func()) {
	t.Helper()
	be := httptest.NewServer(backend)
	h, err := NewHandler(Config{BackendAddr: be.Listener.Addr().String(), Token: benchTok, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = Serve(ctx, ln, h, Config{ShutdownGrace: time.Second}); close(done) }()
	return ln.Addr().String(), func() { cancel(); <-done; be.Close() }
}

func TestKnownLengthBodyFlushedWithinInterval(t *testing.T) {
	release := make(chan struct{})
	addr, stop := benchProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = w.Write([]byte("first"))
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		_, _ = w.Write([]byte("secnd"))
	}))
	defer stop()
	defer close(release)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/ps", nil)
	req.Header.Set("Authorization", "Bearer "+benchTok)
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 5)
		_, _ = io.ReadFull(resp.Body, b)
		got <- string(b)
	}()
	select {
	case s := <-got:
		if s != "first" {
			t.Fatalf("first bytes %q", s)
		}
	case <-time.After(2 * time.Second): // knownLengthFlushInterval is 50ms
		t.Fatal("the first half of a known-length body was held back while the backend paused")
	}
}

func TestSmallBodyCutShortNeverForwardedComplete(t *testing.T) {
	var mu sync.Mutex
	var complete int
	addr, stop := benchProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err == nil && len(b) == 100 {
			mu.Lock()
			complete++
			mu.Unlock()
		}
	}))
	defer stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + benchTok + "\r\nContent-Length: 100\r\n\r\n0123456789"))
	time.Sleep(100 * time.Millisecond)
	c.Close()
	// The proxy keeps serving, and a whole small body goes through intact.
	body := strings.Repeat("a", 100)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/generate", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+benchTok)
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if complete != 1 {
		t.Fatalf("backend saw %d complete 100-byte bodies, want exactly 1 (the good request)", complete)
	}
}
