package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fuzzToken is the token FuzzRequestPath's proxy requires; a fuzzed input
// that does not contain it is unauthenticated.
const fuzzToken = "fuzz-T0ken_abcdefghijklmnopqrstu"

// FuzzRequestPath writes a fuzzed raw request (or several, or garbage) to an
// httptest-served Handler in front of a recording backend: a request the
// backend receives while the input never held the token must be exactly
// GET /api/tags, and the proxy must keep answering.
func FuzzRequestPath(f *testing.F) {
	seeds := []string{
		"GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/ps HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/ps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + fuzzToken + "\r\n\r\n",
		"POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + fuzzToken + "\r\nContent-Length: 2\r\n\r\n{}",
		"GET /api/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 41\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/ps HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n26\r\nabcdGET /api/ps HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n",
		"GET /api/tags HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/ps HTTP/1.1\r\n\r\n",
		"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-A: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\nGET /api/ps HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://x/api/tags HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /api/ps HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"GET /api/tags/../ps HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET //api/tags HTTP/1.1\r\nHost: x\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /api/ps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n " + fuzzToken + "\r\n\r\n",
		"\r\n\r\nGET /api/tags HTTP/1.1\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}

	var mu sync.Mutex
	var seen []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI)
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"models":[]}`)
	}))
	f.Cleanup(backend.Close)
	h, err := NewHandler(Config{BackendAddr: backend.Listener.Addr().String(), Token: fuzzToken, HealthExempt: true})
	if err != nil {
		f.Fatal(err)
	}
	front := httptest.NewUnstartedServer(h)
	front.Config.ReadHeaderTimeout = 2 * time.Second
	front.Config.MaxHeaderBytes = DefaultMaxHeaderBytes
	front.Config.DisableGeneralOptionsHandler = true
	front.Start()
	f.Cleanup(func() { front.Close(); h.Close() })
	addr := front.Listener.Addr().String()

	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 64<<10 {
			return
		}
		mu.Lock()
		seen = seen[:0]
		mu.Unlock()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("the proxy stopped accepting connections: %v", err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write(raw)
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c) // until the proxy is done with the input
		c.Close()

		authed := bytes.Contains(raw, []byte(fuzzToken))
		mu.Lock()
		got := append([]string(nil), seen...)
		mu.Unlock()
		for _, s := range got {
			if !authed && s != "GET /api/tags" {
				t.Fatalf("without the token in the input, the backend received %q\ninput: %q", s, raw)
			}
		}
	})
}
