// Package soak drives the reference proxy hard on loopback: many concurrent
// mixed clients and injected backend faults, checking every answer, the
// bytes of every verified stream, and that goroutines, open file descriptors
// and memory come back to their baseline afterwards. The Go tests in this
// package are the fault drills; Run is `tollgate soak`.
package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
	"github.com/tollgate-dev/tollgate/proxy"
)

// UnauthMarker is a header soak clients put on requests that must never
// reach the backend (they carry no valid token and are not GET /api/tags).
const UnauthMarker = "X-Soak-Must-Not-Arrive"

// Rig is the reference proxy in-process in front of a mock Ollama, both on
// loopback, with a backend that can be stopped and restarted on its address.
type Rig struct {
	Token     string
	ProxyAddr string
	Mock      *mockollama.Mock

	backendAddr string
	handler     *proxy.Handler
	cancel      context.CancelFunc
	served      chan error

	mu      sync.Mutex
	backend *http.Server
	bdone   chan struct{}

	// BackendRequests counts requests the backend received; Violations
	// counts those carrying UnauthMarker that were not exactly GET /api/tags.
	BackendRequests atomic.Int64
	Violations      atomic.Int64
	violation       atomic.Value // string: the first one
}

// StartRig starts a mock and the reference proxy in front of it.
func StartRig(seed int64) (*Rig, error) {
	tok, err := proxy.NewToken()
	if err != nil {
		return nil, err
	}
	r := &Rig{Token: tok, Mock: mockollama.New(mockollama.Options{Seed: seed})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.backendAddr = ln.Addr().String()
	r.serveBackend(ln)

	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.StopBackend()
		return nil, err
	}
	r.ProxyAddr = pln.Addr().String()
	cfg := proxy.Config{ListenAddr: r.ProxyAddr, BackendAddr: r.backendAddr, Token: r.Token, HealthExempt: true, ShutdownGrace: 2 * time.Second}
	h, err := proxy.NewHandler(cfg)
	if err != nil {
		pln.Close()
		r.StopBackend()
		return nil, err
	}
	r.handler = h
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.served = make(chan error, 1)
	go func() { r.served <- proxy.Serve(ctx, pln, h, cfg) }()
	return r, nil
}

// Backend is the address the proxy forwards to.
func (r *Rig) Backend() string { return r.backendAddr }

func (r *Rig) serveBackend(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.watch), ReadHeaderTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	r.mu.Lock()
	r.backend, r.bdone = srv, done
	r.mu.Unlock()
}

// watch counts what reached the backend, then lets the mock answer.
func (r *Rig) watch(w http.ResponseWriter, req *http.Request) {
	r.BackendRequests.Add(1)
	if req.Header.Get(UnauthMarker) != "" && !(req.Method == http.MethodGet && req.RequestURI == "/api/tags") {
		if r.Violations.Add(1) == 1 {
			r.violation.Store(fmt.Sprintf("%s %s (%s)", req.Method, req.RequestURI, req.Header.Get(UnauthMarker)))
		}
	}
	r.Mock.ServeHTTP(w, req)
}

// FirstViolation describes the first unauthenticated request that reached the backend.
func (r *Rig) FirstViolation() string {
	s, _ := r.violation.Load().(string)
	return s
}

// StopBackend closes the backend's listener and every connection at once, as
// if Ollama died.
func (r *Rig) StopBackend() {
	r.mu.Lock()
	srv, done := r.backend, r.bdone
	r.backend = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// StartBackend listens on the backend address again (retrying briefly while
// the port is released).
func (r *Rig) StartBackend() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", r.backendAddr)
		if err == nil {
			r.serveBackend(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CloseIdle drops the proxy's idle backend connections (a leak check
// compares against a baseline taken without them).
func (r *Rig) CloseIdle() { r.handler.Close() }

// Close stops the proxy (graceful, bounded) and the backend.
func (r *Rig) Close() error {
	r.cancel()
	var err error
	select {
	case err = <-r.served:
	case <-time.After(10 * time.Second):
		err = errors.New("the proxy did not shut down within 10 s")
	}
	r.StopBackend()
	return err
}

// Client returns an HTTP client with its own connection pool; dials through
// counter when it is not nil.
func Client(counter *ConnCounter, timeout time.Duration) (*http.Client, *http.Transport) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	dial := d.DialContext
	if counter != nil {
		dial = counter.wrap(d.DialContext)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 4096,
		MaxIdleConns:        4096,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, tr
}

// ConnCounter counts open client connections and remembers the peak.
type ConnCounter struct {
	open, peak, total atomic.Int64
}

func (c *ConnCounter) wrap(dial func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c.total.Add(1)
		n := c.open.Add(1)
		for {
			p := c.peak.Load()
			if n <= p || c.peak.CompareAndSwap(p, n) {
				break
			}
		}
		return &countedConn{Conn: conn, c: c}, nil
	}
}

// Peak is the most connections open at once; Total how many were dialled.
func (c *ConnCounter) Peak() int64  { return c.peak.Load() }
func (c *ConnCounter) Total() int64 { return c.total.Load() }

type countedConn struct {
	net.Conn
	c    *ConnCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.c.open.Add(-1) })
	return c.Conn.Close()
}

// Snapshot is the process's resource use at one moment.
type Snapshot struct {
	Goroutines int
	FDs        int
	HeapInuse  uint64
}

// Take measures now, after a GC.
func Take() Snapshot {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Snapshot{Goroutines: runtime.NumGoroutine(), FDs: openFDs(), HeapInuse: ms.HeapInuse}
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func (s Snapshot) String() string {
	return fmt.Sprintf("%d goroutines, %d open fds, %.1f MiB heap in use", s.Goroutines, s.FDs, float64(s.HeapInuse)/(1<<20))
}

// Slack is how far above the baseline a settled process may stay.
type Slack struct {
	Goroutines int
	FDs        int
	Heap       uint64
}

// DefaultSlack tolerates a few runtime and timer goroutines and a little heap.
var DefaultSlack = Slack{Goroutines: 12, FDs: 12, Heap: 48 << 20}

// Settle polls (closing idle connections each round) until the process is
// back within slack of base, or within passes; it returns the last snapshot
// and an error naming what stayed high.
func Settle(base Snapshot, slack Slack, within time.Duration, closeIdle ...func()) (Snapshot, error) {
	deadline := time.Now().Add(within)
	for {
		for _, f := range closeIdle {
			f()
		}
		now := Take()
		var high []string
		if now.Goroutines > base.Goroutines+slack.Goroutines {
			high = append(high, fmt.Sprintf("goroutines %d (baseline %d)", now.Goroutines, base.Goroutines))
		}
		if base.FDs >= 0 && now.FDs > base.FDs+slack.FDs {
			high = append(high, fmt.Sprintf("open fds %d (baseline %d)", now.FDs, base.FDs))
		}
		if now.HeapInuse > base.HeapInuse+slack.Heap {
			high = append(high, fmt.Sprintf("heap %.1f MiB (baseline %.1f MiB)", float64(now.HeapInuse)/(1<<20), float64(base.HeapInuse)/(1<<20)))
		}
		if len(high) == 0 {
			return now, nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			return now, fmt.Errorf("not back to baseline after %s: %s\n%s", within, strings.Join(high, ", "), stackSummary(buf[:n]))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stackSummary counts goroutines by their top function, for a leak report.
func stackSummary(dump []byte) string {
	counts := map[string]int{}
	for _, g := range strings.Split(string(dump), "\n\n") {
		lines := strings.Split(g, "\n")
		if len(lines) > 1 {
			counts[strings.TrimSpace(lines[1])]++
		}
	}
	var b strings.Builder
	for fn, n := range counts {
		if n > 1 {
			fmt.Fprintf(&b, "  %5d  %s\n", n, fn)
		}
	}
	return b.String()
}
