package soak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config shapes a soak run.
type Config struct {
	Duration   time.Duration // how long the mixed clients run (default 60 s)
	Clients    int           // concurrent clients (default 1000)
	HugeStream int64         // bytes of the one huge verified stream (default 100 MiB; 0 keeps the default, <0 skips)
	HugeUpload int64         // bytes of the one huge verified upload (default 50 MiB; 0 keeps the default, <0 skips)
	Seed       uint64
	Settle     time.Duration // how long resources may take to come back (default 20 s)
	Log        io.Writer     // progress lines; nil = quiet
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
	}
	if c.Clients <= 0 {
		c.Clients = 1000
	}
	if c.HugeStream == 0 {
		c.HugeStream = 100 << 20
	}
	if c.HugeUpload == 0 {
		c.HugeUpload = 50 << 20
	}
	if c.Settle <= 0 {
		c.Settle = 20 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Report is what a soak run measured.
type Report struct {
	Duration      time.Duration
	Clients       int
	Requests      map[string]int64 // by kind
	Total         int64
	PeakConns     int64 // client connections open at once
	Dialled       int64
	Faults        int64 // backend faults and client aborts injected
	Inputs        int64 // rejected, exemption-variant and raw hostile inputs tried
	BytesVerified int64 // bytes whose sha256 matched end to end
	HugeStream    int64
	HugeUpload    int64
	Backend       int64 // requests the backend received
	Violations    int64 // unauthenticated requests that reached the backend
	Unexpected    int64
	Errors        []string // the first unexpected errors
	Baseline      Snapshot
	Peak          Snapshot
	After         Snapshot
	SettledIn     time.Duration
	LeakErr       string
	NoFile        uint64 // RLIMIT_NOFILE in effect
}

// OK reports a clean run.
func (r *Report) OK() bool { return r.Unexpected == 0 && r.Violations == 0 && r.LeakErr == "" }

// Print writes the figures.
func (r *Report) Print(w io.Writer) {
	kinds := make([]string, 0, len(r.Requests))
	for _, k := range kindNames {
		if n := r.Requests[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(w, "soak: %s, %d concurrent clients through the reference proxy on loopback (RLIMIT_NOFILE %d)\n", r.Duration.Round(time.Millisecond), r.Clients, r.NoFile)
	fmt.Fprintf(w, "  requests        %d (%s)\n", r.Total, strings.Join(kinds, ", "))
	fmt.Fprintf(w, "  connections     %d held at once at peak, %d dialled\n", r.PeakConns, r.Dialled)
	fmt.Fprintf(w, "  faults injected %d (backend resets and short ends mid-stream, 503s, client aborts mid-stream)\n", r.Faults)
	fmt.Fprintf(w, "  inputs tried    %d hostile or unauthenticated (no/wrong token, exemption variants, smuggling and header abuse on raw connections)\n", r.Inputs)
	fmt.Fprintf(w, "  bytes verified  %d by sha256 end to end (%.1f MiB), including a %d-byte stream and a %d-byte upload\n", r.BytesVerified, float64(r.BytesVerified)/(1<<20), r.HugeStream, r.HugeUpload)
	fmt.Fprintf(w, "  backend         %d requests received, %d unauthenticated ones among them\n", r.Backend, r.Violations)
	fmt.Fprintf(w, "  resources       baseline %s\n", r.Baseline)
	fmt.Fprintf(w, "                  peak     %s\n", r.Peak)
	fmt.Fprintf(w, "                  after    %s (settled in %s)\n", r.After, r.SettledIn.Round(time.Millisecond))
	fmt.Fprintf(w, "  unexpected      %d\n", r.Unexpected)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "    - %s\n", e)
	}
	if r.LeakErr != "" {
		fmt.Fprintf(w, "  LEAK: %s\n", r.LeakErr)
	}
	if r.OK() {
		fmt.Fprintln(w, "soak: PASS")
	} else {
		fmt.Fprintln(w, "soak: FAIL")
	}
}

// RaiseNoFile lifts the soft open-file limit to the hard one and returns it.
func RaiseNoFile() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}

var kindNames = []string{"stream", "sse", "ps", "exempt", "upload", "reject", "variant", "raw", "reset", "status", "abort"}

// weights, in kindNames order.
var kindWeights = []int{20, 10, 10, 8, 6, 14, 8, 6, 6, 6, 6}

const (
	streamBytes = 64 << 10
	sseBytes    = 32 << 10
	uploadBytes = 256 << 10
	genBody     = `{"model":"llama3.2:1b","prompt":"soak"}`
	sseBody     = `{"model":"llama3.2:1b","stream":true,"messages":[{"role":"user","content":"soak"}]}`
)

type run struct {
	cfg      Config
	rig      *Rig
	client   *http.Client
	counter  *ConnCounter
	expected map[string]string // kind -> sha256 of the backend's deterministic answer
	upload   []byte
	uploadID string

	counts            [11]atomic.Int64
	faults, inputs    atomic.Int64
	verified          atomic.Int64
	unexpected        atomic.Int64
	errMu             sync.Mutex
	errs              []string
	hugeSeen, hugeGot int64
}

func (r *run) fail(format string, args ...any) {
	r.unexpected.Add(1)
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errs) < 10 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// Run soaks the reference proxy and reports; the error is a harness problem.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	rep := &Report{Clients: cfg.Clients, NoFile: RaiseNoFile(), Requests: map[string]int64{}}
	if need := uint64(cfg.Clients*5 + 256); rep.NoFile < need {
		return nil, fmt.Errorf("RLIMIT_NOFILE is %d; %d clients need about %d (raise the hard limit)", rep.NoFile, cfg.Clients, need)
	}
	rig, err := StartRig(int64(cfg.Seed))
	if err != nil {
		return nil, fmt.Errorf("start the proxy and mock: %w", err)
	}
	defer rig.Close()
	r := &run{cfg: cfg, rig: rig, counter: &ConnCounter{}, expected: map[string]string{}}
	var tr *http.Transport
	r.client, tr = Client(r.counter, 60*time.Second)
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	rig.Mock.Record().Reset()
	rig.CloseIdle()
	tr.CloseIdleConnections()
	rep.Baseline = Take()
	fmt.Fprintf(cfg.Log, "soak: baseline %s; %d clients for %s\n", rep.Baseline, cfg.Clients, cfg.Duration)

	start := time.Now()
	loadCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	// The huge transfers run alongside the load, once each.
	wg.Go(func() { r.hugeStream(ctx) })
	wg.Go(func() { r.hugeUpload(ctx) })
	for i := range cfg.Clients {
		wg.Go(func() { r.client1(loadCtx, rand.New(rand.NewPCG(cfg.Seed, uint64(i)))) })
	}
	// Sample the peak and keep the mock's record from growing without bound.
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		next := time.Now().Add(10 * time.Second)
		reset := 5 * time.Second
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
			}
			if time.Since(start) > reset {
				reset = time.Since(start) + 5*time.Second
				rig.Mock.Record().Reset()
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			s := Snapshot{Goroutines: runtime.NumGoroutine(), FDs: openFDs(), HeapInuse: ms.HeapInuse}
			rep.Peak.Goroutines = max(rep.Peak.Goroutines, s.Goroutines)
			rep.Peak.FDs = max(rep.Peak.FDs, s.FDs)
			rep.Peak.HeapInuse = max(rep.Peak.HeapInuse, s.HeapInuse)
			if time.Now().After(next) {
				next = time.Now().Add(10 * time.Second)
				fmt.Fprintf(cfg.Log, "soak: %s: %d requests, %d open connections, %s\n", time.Since(start).Round(time.Second), r.total(), r.counter.open.Load(), s)
			}
		}
	}()
	wg.Wait()
	<-sampled
	rep.Duration = time.Since(start)

	// Everything stopped: resources must come back.
	rig.Mock.Record().Reset()
	settleStart := time.Now()
	after, lerr := Settle(rep.Baseline, DefaultSlack, cfg.Settle, tr.CloseIdleConnections, rig.CloseIdle)
	rep.After, rep.SettledIn = after, time.Since(settleStart)
	if lerr != nil {
		rep.LeakErr = lerr.Error()
	}
	for i, k := range kindNames {
		rep.Requests[k] = r.counts[i].Load()
		rep.Total += rep.Requests[k]
	}
	rep.PeakConns, rep.Dialled = r.counter.Peak(), r.counter.Total()
	rep.Faults, rep.Inputs, rep.BytesVerified = r.faults.Load(), r.inputs.Load(), r.verified.Load()
	rep.HugeStream, rep.HugeUpload = r.hugeSeen, r.hugeGot
	rep.Backend, rep.Violations = rig.BackendRequests.Load(), rig.Violations.Load()
	if rep.Violations > 0 {
		r.fail("an unauthenticated request reached the backend: %s", rig.FirstViolation())
	}
	rep.Unexpected = r.unexpected.Load()
	rep.Errors = r.errs
	return rep, nil
}

func (r *run) total() int64 {
	var n int64
	for i := range r.counts {
		n += r.counts[i].Load()
	}
	return n
}

// prepare learns the backend's deterministic answers directly (not through
// the proxy), checking they are deterministic, and builds the upload.
func (r *run) prepare(ctx context.Context) error {
	direct := "http://" + r.rig.Backend()
	for kind, req := range map[string]func() *http.Request{
		"stream": func() *http.Request { return r.req(ctx, direct, "POST", "/api/generate", genBody, streamBytes) },
	} {
		var sums []string
		for range 2 {
			res, err := r.client.Do(req())
			if err != nil {
				return fmt.Errorf("prepare %s: %w", kind, err)
			}
			h := sha256.New()
			_, err = io.Copy(h, res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 {
				return fmt.Errorf("prepare %s: status %d, %v", kind, res.StatusCode, err)
			}
			sums = append(sums, hex.EncodeToString(h.Sum(nil)))
		}
		if sums[0] != sums[1] {
			return fmt.Errorf("prepare %s: the mock's huge stream is not deterministic", kind)
		}
		r.expected[kind] = sums[0]
	}
	r.upload = pattern(uploadBytes, 7)
	sum := sha256.Sum256(r.upload)
	r.uploadID = hex.EncodeToString(sum[:])
	return nil
}

// pattern is n deterministic, incompressible-looking bytes.
func pattern(n int64, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := int64(0); i+8 <= n; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+int64(j)] = byte(v >> (8 * j))
		}
	}
	return b
}

func (r *run) req(ctx context.Context, base, method, path, body string, huge int64) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if huge > 0 {
		req.Header.Set("X-Mock-Huge", strconv.FormatInt(huge, 10))
	}
	return req
}

func (r *run) authed(req *http.Request) *http.Request {
	req.Header.Set("Authorization", "Bearer "+r.rig.Token)
	return req
}

// client1 is one client: mixed requests until ctx is done.
func (r *run) client1(ctx context.Context, rng *rand.Rand) {
	total := 0
	for _, w := range kindWeights {
		total += w
	}
	for ctx.Err() == nil {
		pick, kind := rng.IntN(total), 0
		for i, w := range kindWeights {
			if pick < w {
				kind = i
				break
			}
			pick -= w
		}
		r.counts[kind].Add(1)
		r.one(ctx, kindNames[kind], rng)
	}
}

// one sends one request of a kind and judges the answer. A request cut by
// the end of the run is not judged.
func (r *run) one(ctx context.Context, kind string, rng *rand.Rand) {
	base := "http://" + r.rig.ProxyAddr
	check := func(req *http.Request, want int, what string) ([]byte, bool) {
		res, err := r.client.Do(req)
		if err != nil {
			if !ended(ctx) {
				r.fail("%s: %v", what, err)
			}
			return nil, false
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			if !ended(ctx) {
				r.fail("%s: reading the answer: %v", what, err)
			}
			return nil, false
		}
		if res.StatusCode != want {
			r.fail("%s: status %d, want %d (%.100q)", what, res.StatusCode, want, body)
			return nil, false
		}
		return body, true
	}
	switch kind {
	case "stream", "sse":
		path, body, size := "/api/generate", genBody, int64(streamBytes)
		if kind == "sse" {
			path, body, size = "/v1/chat/completions", sseBody, sseBytes
		}
		req := r.authed(r.req(ctx, base, "POST", path, body, size))
		tag := strconv.FormatUint(rng.Uint64(), 36)
		req.Header.Set("X-Tollgate-Tag", tag)
		if got, ok := check(req, 200, kind); ok {
			sum := sha256.Sum256(got)
			want := r.expected[kind]
			if kind == "sse" {
				// SSE carries ids and timestamps: compare with what the
				// backend recorded sending (unless the record was just reset).
				e, seen := r.rig.Mock.Record().WaitForTag(tag, 2*time.Second)
				if !seen {
					return
				}
				want = e.ResponseSHA256
				if !bytes.HasSuffix(got, []byte("data: [DONE]\n\n")) {
					r.fail("sse: the stream does not end with data: [DONE]")
					return
				}
			}
			if hex.EncodeToString(sum[:]) != want {
				r.fail("%s: %d bytes arrived but their sha256 differs from the backend's", kind, len(got))
				return
			}
			r.verified.Add(int64(len(got)))
		}
	case "ps":
		check(r.authed(r.req(ctx, base, "GET", "/api/ps", "", 0)), 200, "GET /api/ps")
	case "exempt":
		if got, ok := check(r.req(ctx, base, "GET", "/api/tags", "", 0), 200, "GET /api/tags without a token"); ok && !bytes.Contains(got, []byte(`"models"`)) {
			r.fail("GET /api/tags: no model list")
		}
	case "upload":
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/blobs/sha256:"+r.uploadID, bytes.NewReader(r.upload))
		if _, ok := check(r.authed(req), 201, "POST /api/blobs (256 KiB)"); ok {
			r.verified.Add(int64(len(r.upload)))
		}
	case "reject":
		r.inputs.Add(1)
		req := r.req(ctx, base, "POST", "/api/generate", genBody, 0)
		req.Header.Set(UnauthMarker, "reject")
		switch rng.IntN(4) {
		case 0:
		case 1:
			req.Header.Set("Authorization", "Bearer "+r.rig.Token+"x")
		case 2:
			req.Header.Set("Authorization", "Basic "+r.rig.Token)
		case 3:
			req.Header.Set("Authorization", "Bearer "+strings.ToUpper(r.rig.Token))
		}
		check(req, 401, "a request with no or a wrong token")
	case "variant":
		r.inputs.Add(1)
		v := exemptVariants[rng.IntN(len(exemptVariants))]
		req := r.req(ctx, base, "GET", v, "", 0)
		req.Header.Set(UnauthMarker, "variant "+v)
		check(req, 401, "GET "+v+" without a token")
	case "raw":
		r.inputs.Add(1)
		r.raw(ctx, rawInputs[rng.IntN(len(rawInputs))])
	case "reset", "status", "abort":
		r.faults.Add(1)
		r.fault(ctx, kind, rng)
	}
}

var exemptVariants = []string{"/api/tags/", "/api/tags?x=1", "/api/TAGS", "/api/%74ags", "//api/tags", "/api/./tags", "/api/tags;x", "/api/tags/../ps"}

// rawInputs are hostile requests on raw connections; %s is a smuggled
// request carrying UnauthMarker, %d its length.
var rawInputs = []string{
	"GET /api/tags HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s",
	"GET /api/tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nContent-Length: %d\r\n\r\n0\r\n\r\n%s",
	"POST /api/generate HTTP/1.1\r\nHost: x\r\n" + UnauthMarker + ": post\r\nContent-Length: %d\r\n\r\n%s",
	"GET /api/tags HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n0\r\n\r\n%s",
	"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-A: a\nTransfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n0\r\n\r\n%s",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n" + UnauthMarker + ": options\r\nContent-Length: %d\r\n\r\n%s",
	"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n" + UnauthMarker + ": connect\r\nContent-Length: %d\r\n\r\n%s",
	"GET /api/ps HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + UnauthMarker + ": ws\r\nContent-Length: %d\r\n\r\n%s",
}

const smuggled = "GET /api/ps HTTP/1.1\r\nHost: x\r\n" + UnauthMarker + ": smuggled\r\n\r\n"

// raw sends a hostile input and expects an answer below 500 (or 501/505) or
// a closed connection; the backend watch judges what arrived.
func (r *run) raw(ctx context.Context, tmpl string) {
	body := smuggled
	if strings.Contains(tmpl, "0\r\n\r\n%s") {
		body = "0\r\n\r\n" + smuggled
	}
	payload := fmt.Sprintf(tmpl, len(body), smuggled)
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", r.rig.ProxyAddr)
	if err != nil {
		if !ended(ctx) {
			r.fail("raw input: dial: %v", err)
		}
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, payload); err != nil {
		return
	}
	method, _, _ := strings.Cut(payload, " ")
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return // a closed connection is a refusal
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if res.StatusCode >= 500 && res.StatusCode != 501 && res.StatusCode != 505 {
		r.fail("raw input %.40q: status %d", payload, res.StatusCode)
	}
}

// fault injects a backend fault or aborts mid-stream, and checks the proxy
// passed it on truthfully.
func (r *run) fault(ctx context.Context, kind string, rng *rand.Rand) {
	base := "http://" + r.rig.ProxyAddr
	req := r.authed(r.req(ctx, base, "POST", "/api/generate", genBody, 0))
	req.Header.Set("X-Mock-Chunks", "12")
	switch kind {
	case "reset":
		if rng.IntN(2) == 0 {
			req.Header.Set("X-Mock-Fault", "reset-after=3")
		} else {
			req.Header.Set("X-Mock-Fault", "close-after=3")
		}
	case "status":
		req.Header.Set("X-Mock-Status", "503")
	case "abort":
		req.Header.Set("X-Mock-Interval", "20ms")
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		req = req.WithContext(actx)
	}
	res, err := r.client.Do(req)
	if err != nil {
		if !ended(ctx) {
			r.fail("%s: %v", kind, err)
		}
		return
	}
	defer res.Body.Close()
	switch kind {
	case "status":
		_, _ = io.Copy(io.Discard, res.Body)
		if res.StatusCode != 503 {
			r.fail("X-Mock-Status 503: the client got %d", res.StatusCode)
		}
	case "reset":
		body, err := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			r.fail("%s: status %d before the fault", req.Header.Get("X-Mock-Fault"), res.StatusCode)
		}
		if bytes.Contains(body, []byte(`"done":true`)) {
			r.fail("%s: the client got a complete stream (done:true) from a backend that died mid-stream (err %v)", req.Header.Get("X-Mock-Fault"), err)
		}
	case "abort":
		br := bufio.NewReader(res.Body)
		n := 1 + rng.IntN(4)
		for range n {
			if _, err := br.ReadBytes('\n'); err != nil {
				if !ended(ctx) {
					r.fail("abort: the stream ended before the client aborted: %v", err)
				}
				return
			}
		}
		// Returning cancels the request mid-stream.
	}
}

// hugeStream reads one huge NDJSON stream through the proxy and compares its
// sha256 with the same stream read directly from the backend.
func (r *run) hugeStream(ctx context.Context) {
	if r.cfg.HugeStream < 0 {
		return
	}
	sum := func(base string, auth bool) (string, int64, error) {
		req := r.req(ctx, base, "POST", "/api/generate", `{"model":"llama3.2:1b","prompt":"huge"}`, r.cfg.HugeStream)
		if auth {
			r.authed(req)
		}
		res, err := r.client.Do(req)
		if err != nil {
			return "", 0, err
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			return "", 0, fmt.Errorf("status %d", res.StatusCode)
		}
		h := sha256.New()
		n, err := io.Copy(h, res.Body)
		return hex.EncodeToString(h.Sum(nil)), n, err
	}
	want, _, err := sum("http://"+r.rig.Backend(), false)
	if err != nil {
		r.fail("huge stream, read directly from the backend: %v", err)
		return
	}
	got, n, err := sum("http://"+r.rig.ProxyAddr, true)
	switch {
	case err != nil:
		r.fail("huge stream through the proxy: %v after %d bytes", err, n)
	case got != want:
		r.fail("huge stream: %d bytes through the proxy, sha256 %s; the backend's is %s", n, got, want)
	default:
		r.hugeSeen = n
		r.verified.Add(n)
	}
}

// hugeUpload sends one huge body; the mock answers 201 only when the sha256
// of what it received matches the digest in the path.
func (r *run) hugeUpload(ctx context.Context) {
	if r.cfg.HugeUpload < 0 {
		return
	}
	data := pattern(r.cfg.HugeUpload, 11)
	sum := sha256.Sum256(data)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+r.rig.ProxyAddr+"/api/blobs/sha256:"+hex.EncodeToString(sum[:]), bytes.NewReader(data))
	r.authed(req)
	res, err := r.client.Do(req)
	if err != nil {
		r.fail("huge upload: %v", err)
		return
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		r.fail("huge upload of %d bytes: status %d %.200q", len(data), res.StatusCode, body)
		return
	}
	r.hugeGot = int64(len(data))
	r.verified.Add(int64(len(data)))
}

// ended reports whether the run is over: a dial or read cut by the end of the
// run can fail a moment before ctx itself reports it.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < 50*time.Millisecond
}
