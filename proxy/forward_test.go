package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestForwardingStripsAndRewritesHeaders(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	raw := "POST /api/chat HTTP/1.1\r\nHost: evil.example:8080\r\nAuthorization: Bearer " + testToken +
		"\r\nX-Forwarded-For: 10.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https" +
		"\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /admin\r\nX-Forwarded-Server: evil" +
		"\r\nx-forwarded-ssl: on\r\nForwarded: for=10.6.6.6;host=evil.example;proto=https\r\nX-Real-IP: 10.6.6.6" +
		"\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Bearer " + testToken +
		"\r\nTe: gzip\r\nX-Hop: secret-hop\r\nConnection: X-Hop, close\r\nX-Keep: kept" +
		"\r\nUser-Agent: ollama-go/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	resp, body := rawResponse(t, p.addr, raw)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	seen := be.requests()
	if len(seen) != 1 {
		t.Fatalf("backend saw %d requests", len(seen))
	}
	got := seen[0]
	if got.Host != be.addr() {
		t.Errorf("backend Host = %q, want %q", got.Host, be.addr())
	}
	for _, h := range []string{"Authorization", "Proxy-Authorization", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "X-Forwarded-Ssl", "Forwarded",
		"X-Real-Ip", "Keep-Alive", "Proxy-Connection", "Te", "X-Hop"} {
		if v, ok := got.Header[h]; ok {
			t.Errorf("backend received %s: %q", h, v)
		}
	}
	for h, want := range map[string]string{"X-Keep": "kept", "User-Agent": "ollama-go/1.0", "Content-Type": "application/json"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("backend %s = %q, want %q", h, v, want)
		}
	}
	if string(got.Body) != "{}" || got.Method != "POST" {
		t.Errorf("backend got %s with body %q", got.Method, got.Body)
	}
	for k, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, testToken) {
				t.Errorf("token reached the backend in %s", k)
			}
		}
	}
}

func TestForwardingPathQueryByteExact(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr(), HealthExempt: true})
	targets := []string{
		"/api/generate",
		"/api/show?name=llama3%3Alatest",
		"/api/generate?a=1&b=%20x&c&d=&=e",
		"/api/tags?",
		"/api/tags/",
		"/api/%74ags",
		"/api%2Ftags",
		"//api/tags",
		"/a;b=c/d;e",
		"/api/./x/../y",
		"/~user/p%C3%A9?q=%ZZ&r=%",
		"/v1/chat/completions?stream=true",
		"/p+q%2Bplus?x=a+b%2B",
	}
	for _, target := range targets {
		for _, method := range []string{"GET", "DELETE", "PATCH"} {
			before := len(be.requests())
			resp, _ := rawResponse(t, p.addr, rawReq(method, target, "Authorization: Bearer "+testToken))
			if resp.StatusCode != 200 {
				t.Errorf("%s %s: status %d", method, target, resp.StatusCode)
				continue
			}
			seen := be.requests()[before:]
			if len(seen) != 1 || seen[0].RequestURI != target || seen[0].Method != method {
				t.Errorf("%s %s: backend saw %+v", method, target, seen)
			}
		}
	}
	// Absolute-form: the proxy forwards to its own backend, path and query intact.
	before := len(be.requests())
	resp, _ := rawResponse(t, p.addr, rawReq("GET", "http://evil.example/api/ps?x=1", "Authorization: Bearer "+testToken))
	seen := be.requests()[before:]
	if resp.StatusCode != 200 || len(seen) != 1 || seen[0].RequestURI != "/api/ps?x=1" || seen[0].Host != be.addr() {
		t.Errorf("absolute-form: status %d, backend saw %+v", resp.StatusCode, seen)
	}
}

func TestForwardingLargeAndChunkedBodies(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	p := startProxy(t, Config{BackendAddr: be.addr()})

	big := make([]byte, 32<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", p.url("/api/create"), bytes.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := be.requests()
	if resp.StatusCode != 200 || len(seen) != 1 || sha256.Sum256(seen[0].Body) != sha256.Sum256(big) {
		t.Fatalf("32 MiB body: status %d, backend got %d bytes", resp.StatusCode, len(seen[0].Body))
	}

	// Chunked upload: unknown length, written in pieces.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 64; i++ {
			_, _ = pw.Write(big[i*4096 : (i+1)*4096])
		}
		_ = pw.Close()
	}()
	req, _ = http.NewRequest("POST", p.url("/api/blobs/sha256:x"), pr)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen = be.requests()
	if len(seen) != 2 || !bytes.Equal(seen[1].Body, big[:64*4096]) || !seen[1].Chunked {
		t.Fatalf("chunked upload: backend got %d bytes, chunked=%v", len(seen[1].Body), seen[1].Chunked)
	}
}

func TestForwardingResponseHeadersAndStatus(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-Ollama", "1")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"model 'x' not found"}`)
	})
	p := startProxy(t, Config{BackendAddr: be.addr()})
	resp, body := rawResponse(t, p.addr, rawReq("POST", "/api/show", "Authorization: Bearer "+testToken))
	if resp.StatusCode != 404 || string(body) != `{"error":"model 'x' not found"}` || resp.Header.Get("X-Ollama") != "1" {
		t.Errorf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

// TestForwardingOptionsStar: an authenticated `OPTIONS *` reaches the
// backend as `OPTIONS *` (the asterisk form), not as a path. The backend is a
// bare listener: Go's own server would answer `OPTIONS *` itself.
func TestForwardingOptionsStar(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		lines <- strings.TrimRight(line, "\r\n")
		io.WriteString(c, "HTTP/1.1 200 OK\r\nAllow: GET, POST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}()
	p := startProxy(t, Config{BackendAddr: ln.Addr().String(), HealthExempt: true})
	resp, _ := rawResponse(t, p.addr, rawReq("OPTIONS", "*", "Authorization: Bearer "+testToken))
	select {
	case got := <-lines:
		if got != "OPTIONS * HTTP/1.1" || resp.StatusCode != 200 {
			t.Fatalf("backend saw %q, client got %d; want OPTIONS * HTTP/1.1 and 200", got, resp.StatusCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("OPTIONS * never reached the backend (client got %d)", resp.StatusCode)
	}
}
