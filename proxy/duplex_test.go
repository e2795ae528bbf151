package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// lateExtraRead stands in for a busy machine: after delivering the declared
// length it holds the transport's one extra read (the check that the body is
// not longer than declared) until the client has seen the answer begin.
type lateExtraRead struct {
	io.ReadCloser
	left int64
	gate <-chan struct{}
}

func (b *lateExtraRead) Read(p []byte) (int, error) {
	if b.left <= 0 {
		select {
		case <-b.gate:
		case <-time.After(5 * time.Second):
		}
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// TestStreamSurvivesLateRequestBodyCheck: a backend that has read the whole
// body answers at once; when the proxy's transport checks the body's end only
// after the answer's headers went out, the stream must still complete. A
// half-duplex Go proxy fails it: writing the headers makes net/http drain and
// close the inbound body, the late read fails, and the transport tears down
// the backend connection mid-stream (golang/go#40747). The RST specs caught
// this on a loaded CI machine as a truncated stream after a restart.
func TestStreamSurvivesLateRequestBodyCheck(t *testing.T) {
	seen := make(chan struct{})
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"response":"a","done":false}`+"\n")
		http.NewResponseController(w).Flush()
		select { // give a torn-down connection time to show (ctx ends)
		case <-seen:
			select {
			case <-r.Context().Done():
			case <-time.After(500 * time.Millisecond):
			}
		case <-r.Context().Done():
		}
		io.WriteString(w, `{"response":"b","done":false}`+"\n")
		io.WriteString(w, `{"response":"","done":true}`+"\n")
	})
	h, err := NewHandler(Config{Token: testToken, BackendAddr: be.addr(), HealthExempt: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &lateExtraRead{ReadCloser: r.Body, left: r.ContentLength, gate: seen}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	body := bytes.Repeat([]byte("x"), 4*smallBodyMax) // streamed, not buffered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(authedRequest(ctx, t, "POST", "http://"+ln.Addr().String()+"/api/generate", bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	if err != nil || !strings.Contains(first, `"a"`) {
		t.Fatalf("first line: %q, %v", first, err)
	}
	close(seen)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the stream was cut after its first line: %v (got %q)", err, rest)
	}
	if !strings.Contains(string(rest), `"done":true`) {
		t.Fatalf("the stream ended without its last line: %q", rest)
	}
	if got := be.requests(); len(got) != 1 || !bytes.Equal(got[0].Body, body) {
		t.Fatalf("the backend did not receive the body intact")
	}
}
