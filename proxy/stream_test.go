package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func authedRequest(ctx context.Context, t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	return req
}

// TestStreamingLockstep proves nothing is buffered: the backend writes the
// next chunk only after the client has received the previous one.
func TestStreamingLockstep(t *testing.T) {
	for _, tc := range []struct {
		name, path, contentType string
		chunks                  []string
	}{
		{"ndjson", "/api/generate", "application/x-ndjson", []string{
			`{"response":"a","done":false}` + "\n", `{"response":"b","done":false}` + "\n", `{"response":"","done":true}` + "\n"}},
		{"sse", "/v1/chat/completions", "text/event-stream", []string{
			"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n", "data: [DONE]\n\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ack := make(chan struct{})
			be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				for _, c := range tc.chunks {
					_, _ = io.WriteString(w, c)
					w.(http.Flusher).Flush()
					select {
					case <-ack:
					case <-time.After(5 * time.Second):
						return // the client never saw the chunk: buffered
					}
				}
			})
			p := startProxy(t, Config{BackendAddr: be.addr()})
			resp, err := http.DefaultClient.Do(authedRequest(context.Background(), t, "POST", p.url(tc.path), strings.NewReader(`{}`)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
				t.Errorf("Content-Length invented: %d %q", resp.ContentLength, resp.Header.Get("Content-Length"))
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q", got)
			}
			br := bufio.NewReader(resp.Body)
			for i, want := range tc.chunks {
				got := make([]byte, len(want))
				start := time.Now()
				if _, err := io.ReadFull(br, got); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				if time.Since(start) > 4*time.Second || string(got) != want {
					t.Fatalf("chunk %d = %q after %v: buffered?", i, got, time.Since(start))
				}
				ack <- struct{}{}
			}
			if rest, _ := io.ReadAll(br); len(rest) != 0 {
				t.Errorf("trailing bytes %q", rest)
			}
		})
	}
}

// TestStreamingPaced: a line every 50 ms; the client must see the first line
// before the backend has written the last.
func TestStreamingPaced(t *testing.T) {
	t.Parallel()
	const lines = 10
	var lastWritten atomic.Int64
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := 0; i < lines; i++ {
			fmt.Fprintf(w, "{\"i\":%d}\n", i)
			w.(http.Flusher).Flush()
			if i == lines-1 {
				lastWritten.Store(time.Now().UnixNano())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	p := startProxy(t, Config{BackendAddr: be.addr()})
	resp, err := http.DefaultClient.Do(authedRequest(context.Background(), t, "POST", p.url("/api/chat"), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var firstSeen int64
	n := 0
	for sc.Scan() {
		if n == 0 {
			firstSeen = time.Now().UnixNano()
		}
		if want := fmt.Sprintf("{\"i\":%d}", n); sc.Text() != want {
			t.Fatalf("line %d = %q", n, sc.Text())
		}
		n++
	}
	if err := sc.Err(); err != nil || n != lines {
		t.Fatalf("read %d lines, err %v", n, err)
	}
	if firstSeen >= lastWritten.Load() {
		t.Errorf("first line reached the client only after the backend wrote the last one: buffered")
	}
}

// TestStreamingLongSilence: a 3 s pause mid-stream is not cut, even with a
// response header timeout shorter than the pause.
func TestStreamingLongSilence(t *testing.T) {
	t.Parallel()
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "{\"status\":\"loading\"}\n")
		w.(http.Flusher).Flush()
		time.Sleep(3 * time.Second)
		_, _ = io.WriteString(w, "{\"done\":true}\n")
	})
	p := startProxy(t, Config{BackendAddr: be.addr(), ResponseHeaderTimeout: time.Second})
	resp, err := http.DefaultClient.Do(authedRequest(context.Background(), t, "POST", p.url("/api/pull"), nil))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "{\"status\":\"loading\"}\n{\"done\":true}\n" {
		t.Fatalf("body %q, err %v", body, err)
	}
}

// TestClientCancelReachesBackend: a client that goes away cancels the
// backend request promptly, and gets no 502 body logged as a backend failure.
func TestClientCancelReachesBackend(t *testing.T) {
	t.Parallel()
	backendDone := make(chan struct{})
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "{\"response\":\"a\"}\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(backendDone)
		case <-time.After(10 * time.Second):
		}
	})
	p := startProxy(t, Config{BackendAddr: be.addr()})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := http.DefaultClient.Do(authedRequest(ctx, t, "POST", p.url("/api/generate"), nil))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "{\"response\":\"a\"}\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	canceled := time.Now()
	cancel()
	resp.Body.Close()
	select {
	case <-backendDone:
		t.Logf("backend saw cancellation after %v", time.Since(canceled))
	case <-time.After(5 * time.Second):
		t.Fatal("backend request not canceled after the client went away")
	}
}

// TestClientCancelBeforeHeaders: the client leaves while the backend is still
// thinking: backend canceled, no warn-level backend error logged.
func TestClientCancelBeforeHeaders(t *testing.T) {
	t.Parallel()
	backendDone := make(chan struct{})
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(backendDone)
	})
	p := startProxy(t, Config{BackendAddr: be.addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := http.DefaultClient.Do(authedRequest(ctx, t, "POST", p.url("/api/generate"), nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	select {
	case <-backendDone:
	case <-time.After(5 * time.Second):
		t.Fatal("backend request not canceled")
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(p.logs.String(), "client went away") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "level=DEBUG msg=\"client went away") || strings.Contains(logs, "level=WARN") {
		t.Errorf("logs:\n%s", logs)
	}
}

// TestBackendDiesMidStream: the client sees a truncated stream (read error),
// and the proxy keeps serving.
func TestBackendDiesMidStream(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			_, _ = io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = io.WriteString(w, "{\"response\":\"partial\"}\n")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_ = conn.Close()
	})
	p := startProxy(t, Config{BackendAddr: be.addr()})
	resp, err := http.DefaultClient.Do(authedRequest(context.Background(), t, "POST", p.url("/api/generate"), nil))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("stream ended cleanly (%q): truncation hidden from the client", body)
	}
	if !strings.HasPrefix(string(body), "{\"response\":\"partial\"}\n") || strings.Contains(string(body), "unavailable") {
		t.Errorf("partial body %q", body)
	}
	resp, err = http.DefaultClient.Do(authedRequest(context.Background(), t, "GET", p.url("/api/version"), nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("next request: %d %q", resp.StatusCode, body)
	}
}
