package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestGracefulShutdownDrainsStream: once ctx is done the port closes at once,
// an in-flight stream still completes, and Serve returns nil.
func TestGracefulShutdownDrainsStream(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			_, _ = io.WriteString(w, "{\"i\":1}\n")
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(5 * time.Second):
				return
			}
		}
	})
	p := startProxy(t, Config{BackendAddr: be.addr(), ShutdownGrace: 10 * time.Second})
	resp, err := http.DefaultClient.Do(authedRequest(context.Background(), t, "POST", p.url("/api/generate"), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	p.cancel() // SIGTERM
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			break // port closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("port still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-p.done:
		t.Fatalf("Serve returned %v before the stream finished", err)
	default:
	}
	for i := 0; i < 2; i++ {
		next <- struct{}{}
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("line %d after shutdown began: %v", i+2, err)
		}
	}
	next <- struct{}{}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("stream end: %q %v", rest, err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
		p.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the stream drained")
	}
}

// TestGracefulShutdownGraceExpires: a stream longer than the grace is cut.
func TestGracefulShutdownGraceExpires(t *testing.T) {
	t.Parallel()
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "{}\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Token: testToken, BackendAddr: be.addr(), ShutdownGrace: 200 * time.Millisecond}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, cfg) }()
	resp, err := http.DefaultClient.Do(authedRequest(context.Background(), t, "POST", "http://"+ln.Addr().String()+"/api/generate", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("returned after %v, before the grace", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the grace expired")
	}
	if _, err := io.ReadAll(br); err == nil {
		t.Error("stream ended cleanly; want it cut")
	}
}

func TestServeListenerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Token: testToken, BackendAddr: closedAddr(t), Logger: slog.New(slog.DiscardHandler)}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Serve(context.Background(), ln, h, cfg); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}
