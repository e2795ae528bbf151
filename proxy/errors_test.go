package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestBackendDown502(t *testing.T) {
	backendAddr := closedAddr(t)
	p := startProxy(t, Config{BackendAddr: backendAddr, HealthExempt: true})
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/generate"}, {"GET", "/api/tags"}, {"HEAD", "/api/version"},
	} {
		start := time.Now()
		resp, body := rawResponse(t, p.addr, rawReq(tc.method, tc.path, "Authorization: Bearer "+testToken))
		if time.Since(start) > 3*time.Second {
			t.Errorf("%s %s: 502 took %v", tc.method, tc.path, time.Since(start))
		}
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("%s %s: status %d", tc.method, tc.path, resp.StatusCode)
		}
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
		}
		if tc.method != "HEAD" && string(body) != `{"error":"ollama backend unavailable"}` {
			t.Errorf("body %q", body)
		}
		_, port, _ := net.SplitHostPort(backendAddr)
		for k, v := range resp.Header {
			if strings.Contains(strings.Join(v, " "), port) || strings.Contains(strings.Join(v, " "), "127.0.0.1") {
				t.Errorf("header %s leaks the backend address: %q", k, v)
			}
		}
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "connection refused") {
		t.Errorf("real error not logged at warn:\n%s", logs)
	}
	if strings.Contains(logs, testToken) {
		t.Error("token in logs")
	}
}

func TestBackendHeaderTimeout502(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	p := startProxy(t, Config{BackendAddr: be.addr(), ResponseHeaderTimeout: 200 * time.Millisecond})
	resp, body := rawResponse(t, p.addr, rawReq("POST", "/api/generate", "Authorization: Bearer "+testToken))
	if resp.StatusCode != http.StatusBadGateway || string(body) != `{"error":"ollama backend unavailable"}` {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(p.logs.String(), "timeout") {
		t.Errorf("timeout not logged:\n%s", p.logs.String())
	}
}

func TestHugeHeaders431(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	big := strings.Repeat("a", 128<<10)
	resp, _ := rawResponse(t, p.addr, rawReq("GET", "/api/tags", "Authorization: Bearer "+testToken, "X-Big: "+big))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
	// A long but acceptable header still passes.
	resp, _ = rawResponse(t, p.addr, rawReq("GET", "/api/tags", "Authorization: Bearer "+testToken, "X-Big: "+big[:32<<10]))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("32 KiB header: status %d, want 200", resp.StatusCode)
	}
	if len(be.requests()) != 1 {
		t.Errorf("backend saw %d requests, want 1", len(be.requests()))
	}
}

// TestUnauthorizedBodyNotRead: a rejected upload is not streamed to the
// backend, and the proxy answers without waiting for the whole body.
func TestUnauthorizedBodyNotRead(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	// Headers and the start of a chunked body that never ends.
	conn, br := openConn(t, p.addr)
	_, _ = io.WriteString(conn, "POST /api/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer before the body ended: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(be.requests()) != 0 {
		t.Errorf("status %d, backend saw %d", resp.StatusCode, len(be.requests()))
	}
}
