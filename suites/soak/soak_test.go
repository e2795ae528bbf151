package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The fault drills: each starts the reference proxy and a mock, takes a
// baseline, injects one kind of backend or client failure under concurrent
// load, checks every answer, and requires goroutines and open fds to come
// back near the baseline afterwards (a settle loop, not a timer).

type drill struct {
	t      *testing.T
	rig    *Rig
	client *http.Client
	tr     *http.Transport
	base   Snapshot
}

func newDrill(t *testing.T) *drill {
	t.Helper()
	rig, err := StartRig(1)
	if err != nil {
		t.Fatal(err)
	}
	d := &drill{t: t, rig: rig}
	d.client, d.tr = Client(nil, 30*time.Second)
	// Warm up the pools once, then measure without them.
	d.get(context.Background(), "/api/ps", true)
	d.tr.CloseIdleConnections()
	rig.CloseIdle()
	d.base = Take()
	t.Cleanup(func() {
		if err := rig.Close(); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
	})
	return d
}

// settled fails the test unless resources came back near the baseline.
func (d *drill) settled() {
	d.t.Helper()
	d.rig.Mock.Record().Reset()
	after, err := Settle(d.base, DefaultSlack, 15*time.Second, d.tr.CloseIdleConnections, d.rig.CloseIdle)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Logf("baseline %s; after %s", d.base, after)
}

type answer struct {
	status int
	body   string
	err    error
	start  time.Time
	end    time.Time
}

func (d *drill) do(ctx context.Context, method, path, body string, authed bool, hdr ...string) answer {
	a := answer{start: time.Now()}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+d.rig.ProxyAddr+path, rd)
	if authed {
		req.Header.Set("Authorization", "Bearer "+d.rig.Token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := d.client.Do(req)
	if err != nil {
		a.err, a.end = err, time.Now()
		return a
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	a.status, a.body, a.err, a.end = res.StatusCode, string(b), err, time.Now()
	return a
}

func (d *drill) get(ctx context.Context, path string, authed bool) answer {
	return d.do(ctx, "GET", path, "", authed)
}

// serving asserts the proxy answers a good client right now.
func (d *drill) serving(what string) {
	d.t.Helper()
	if a := d.get(context.Background(), "/api/ps", true); a.err != nil || a.status != 200 {
		d.t.Fatalf("%s: the proxy no longer serves: %d %v", what, a.status, a.err)
	}
	if a := d.get(context.Background(), "/api/ps", false); a.status != 401 {
		d.t.Fatalf("%s: a tokenless request got %d %v", what, a.status, a.err)
	}
}

// load runs n clients looping fn until stop; it returns every answer.
func load(n int, stop <-chan struct{}, fn func(i int) answer) []answer {
	var mu sync.Mutex
	var all []answer
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := fn(i)
				mu.Lock()
				all = append(all, a)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return all
}

const gen = `{"model":"llama3.2:1b","prompt":"drill","stream":false}`

func TestBackendRestartsUnderLoad(t *testing.T) {
	d := newDrill(t)
	type window struct{ from, to time.Time }
	var mu sync.Mutex
	var down []window
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		for range 3 {
			time.Sleep(400 * time.Millisecond)
			w := window{from: time.Now()}
			d.rig.StopBackend()
			time.Sleep(150 * time.Millisecond)
			if err := d.rig.StartBackend(); err != nil {
				t.Errorf("restart the backend: %v", err)
				return
			}
			w.to = time.Now()
			mu.Lock()
			down = append(down, w)
			mu.Unlock()
		}
		time.Sleep(300 * time.Millisecond)
	}()
	ctx := context.Background()
	all := load(40, stop, func(i int) answer {
		if i%2 == 0 {
			return d.get(ctx, "/api/ps", true)
		}
		return d.do(ctx, "POST", "/api/generate", gen, true)
	})
	// 502 (or a broken answer) only for requests that overlapped a restart,
	// with a margin for connections the old backend dropped.
	overlaps := func(a answer) bool {
		for _, w := range down {
			if !a.start.After(w.to.Add(250*time.Millisecond)) && !a.end.Before(w.from.Add(-50*time.Millisecond)) {
				return true
			}
		}
		return false
	}
	var ok, failed int
	for _, a := range all {
		switch {
		case a.err == nil && a.status == 200:
			ok++
		case (a.status == 502 || a.err != nil) && overlaps(a):
			failed++
		default:
			t.Errorf("a request from %s to %s outside any backend restart got %d %v %.100q", a.start.Format("15:04:05.000"), a.end.Format("15:04:05.000"), a.status, a.err, a.body)
		}
	}
	t.Logf("%d answered, %d failed during the 3 restarts", ok, failed)
	if ok == 0 {
		t.Fatal("no request succeeded")
	}
	d.serving("after backend restarts")
	d.settled()
}

func TestBackendRefusingConnections(t *testing.T) {
	d := newDrill(t)
	d.rig.StopBackend()
	ctx := context.Background()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range 100 {
		wg.Go(func() {
			a := d.get(ctx, "/api/ps", i%4 != 0)
			want := 502
			if i%4 == 0 {
				want = 401
			}
			if a.err != nil || a.status != want || a.end.Sub(a.start) > 5*time.Second {
				if bad.Add(1) <= 5 {
					t.Errorf("backend refusing: got %d %v after %s, want %d", a.status, a.err, a.end.Sub(a.start), want)
				}
			}
		})
	}
	wg.Wait()
	if err := d.rig.StartBackend(); err != nil {
		t.Fatal(err)
	}
	d.serving("after the backend came back")
	d.settled()
}

func TestSlowBackend(t *testing.T) {
	d := newDrill(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	slow := make([]answer, 60)
	for i := range slow {
		wg.Go(func() {
			slow[i] = d.do(ctx, "POST", "/api/generate", `{"model":"llama3.2:1b","prompt":"slow"}`, true,
				"X-Mock-Header-Delay", "800ms", "X-Mock-Chunks", "10", "X-Mock-Interval", "100ms")
		})
	}
	time.Sleep(200 * time.Millisecond)
	for range 20 { // fast clients are not held up by the slow ones
		a := d.get(ctx, "/api/ps", true)
		if a.err != nil || a.status != 200 || a.end.Sub(a.start) > time.Second {
			t.Errorf("a fast request during slow streams: %d %v in %s", a.status, a.err, a.end.Sub(a.start))
		}
	}
	wg.Wait()
	for i, a := range slow {
		if a.err != nil || a.status != 200 || !strings.Contains(a.body, `"done":true`) {
			t.Errorf("slow stream %d: %d %v, complete: %v", i, a.status, a.err, strings.Contains(a.body, `"done":true`))
		}
	}
	d.serving("after slow streams")
	d.settled()
}

func TestBackendResetsMidStream(t *testing.T) {
	d := newDrill(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range 80 {
		wg.Go(func() {
			fault := "reset-after=3"
			if i%2 == 1 {
				fault = "close-after=3"
			}
			a := d.do(ctx, "POST", "/api/generate", `{"model":"llama3.2:1b","prompt":"reset"}`, true, "X-Mock-Chunks", "10", "X-Mock-Fault", fault)
			// Headers were sent before the fault: 200, then a truncated stream.
			if a.status != 200 || strings.Contains(a.body, `"done":true`) || strings.Count(a.body, "\n") > 3 {
				if bad.Add(1) <= 5 {
					t.Errorf("%s: got %d %v with %d lines; want 200 and a visibly truncated stream", fault, a.status, a.err, strings.Count(a.body, "\n"))
				}
			}
		})
		if i%10 == 9 { // good clients in between
			if a := d.get(ctx, "/api/ps", true); a.err != nil || a.status != 200 {
				t.Errorf("a good request among resets: %d %v", a.status, a.err)
			}
		}
	}
	wg.Wait()
	d.serving("after mid-stream resets")
	d.settled()
}

func TestClientsAbortMidStream(t *testing.T) {
	d := newDrill(t)
	var wg sync.WaitGroup
	var bad atomic.Int64
	tags := make([]string, 80)
	for i := range tags {
		tags[i] = fmt.Sprintf("abort-%d", i)
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+d.rig.ProxyAddr+"/api/generate", strings.NewReader(`{"model":"llama3.2:1b","prompt":"abort"}`))
			req.Header.Set("Authorization", "Bearer "+d.rig.Token)
			req.Header.Set("X-Mock-Chunks", "500")
			req.Header.Set("X-Mock-Interval", "20ms")
			req.Header.Set("X-Tollgate-Tag", tags[i])
			res, err := d.client.Do(req)
			if err != nil {
				bad.Add(1)
				t.Errorf("abort %d: %v", i, err)
				return
			}
			br := bufio.NewReader(res.Body)
			for range 1 + i%5 {
				if _, err := br.ReadBytes('\n'); err != nil {
					t.Errorf("abort %d: the stream ended early: %v", i, err)
					break
				}
			}
			cancel() // abort mid-stream
			res.Body.Close()
		})
	}
	wg.Wait()
	for _, tag := range tags { // each abort reached the backend as a cancellation
		if _, ok := d.rig.Mock.Record().WaitForCancel(tag, 3*time.Second); !ok {
			t.Errorf("the backend request %s was not cancelled after its client aborted", tag)
		}
	}
	d.serving("after client aborts")
	d.settled()
}

// TestShortSoak is the soak in miniature: a few seconds of mixed clients.
func TestShortSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var log strings.Builder
	rep, err := Run(context.Background(), Config{Duration: 3 * time.Second, Clients: 150, HugeStream: 8 << 20, HugeUpload: 4 << 20, Seed: 1, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.Print(&out)
	t.Log("\n" + out.String())
	if !rep.OK() {
		t.Fatal("the short soak was not clean")
	}
	if rep.HugeStream != 8<<20 || rep.HugeUpload != 4<<20 || rep.Faults == 0 || rep.Inputs == 0 {
		t.Fatalf("the soak did not exercise everything: %+v", rep)
	}
}
