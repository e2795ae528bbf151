package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Request bodies: small JSON, as a chat client would send.
const (
	generateBody       = `{"model":"llama3.2:1b","prompt":"Why is the sky blue?","stream":false}`
	generateStreamBody = `{"model":"llama3.2:1b","prompt":"Why is the sky blue?","stream":true}`
	chatStreamBody     = `{"model":"llama3.2:1b","messages":[{"role":"user","content":"Why is the sky blue?"}],"stream":true}`
)

// path is one way to the mock: direct, or through a proxy.
type path struct {
	base  string
	token string // sent on every request, direct included, so the bytes are the same
}

func (p path) header(auth bool) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if auth && p.token != "" {
		h.Set("Authorization", "Bearer "+p.token)
	}
	return h
}

// newTransport is a keep-alive client transport for conns connections to
// one loopback host, never through an environment proxy.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}
}

// warmup is the part of every measurement that is not counted.
func warmup(d time.Duration) time.Duration { return min(d/4, 300*time.Millisecond) }

// throughput runs a closed-loop attack with conns keep-alive connections,
// each sending the next request as soon as the last one is answered, and
// returns answers with status want per second over d (after a warm-up).
func throughput(ctx context.Context, p path, conns int, d time.Duration, auth bool, want int) float64 {
	return throughputOf(ctx, p, conns, d, vegeta.Target{Method: http.MethodPost, URL: p.base + "/api/generate", Body: []byte(generateBody), Header: p.header(auth)}, want)
}

// throughputOf is throughput for any request.
func throughputOf(ctx context.Context, p path, conns int, d time.Duration, tgt vegeta.Target, want int) float64 {
	tr := newTransport(conns)
	defer tr.CloseIdleConnections()
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: tr, Timeout: 10 * time.Second}),
		vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)),
		vegeta.MaxBody(0), vegeta.Redirects(vegeta.NoFollow),
	)
	warm := warmup(d)
	began := time.Now()
	from, to := began.Add(warm), began.Add(warm+d)
	var ok int
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for res := range atk.Attack(vegeta.NewStaticTargeter(tgt), vegeta.Rate{}, warm+d, "") {
		if end := res.End(); int(res.Code) == want && !end.Before(from) && !end.After(to) {
			ok++
		}
	}
	if ctx.Err() != nil {
		return math.NaN()
	}
	return float64(ok) / d.Seconds()
}

// latency runs an open-loop attack at rate requests per second for d (after
// a warm-up) and returns p50 and p99 latency in ms of the successful answers.
func latency(ctx context.Context, p path, rate int, d time.Duration) (p50, p99 float64, errs int) {
	tr := newTransport(0)
	defer tr.CloseIdleConnections()
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: tr, Timeout: 10 * time.Second}),
		vegeta.Workers(8), vegeta.MaxWorkers(512),
		vegeta.MaxBody(0), vegeta.Redirects(vegeta.NoFollow),
	)
	tgt := vegeta.Target{Method: http.MethodPost, URL: p.base + "/api/generate", Body: []byte(generateBody), Header: p.header(true)}
	warm := warmup(d)
	from := time.Now().Add(warm)
	var lat []time.Duration
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for res := range atk.Attack(vegeta.NewStaticTargeter(tgt), vegeta.Rate{Freq: rate, Per: time.Second}, warm+d, "") {
		if res.Timestamp.Before(from) {
			continue
		}
		if res.Code != http.StatusOK {
			errs++
			continue
		}
		lat = append(lat, res.Latency)
	}
	ms := durationsMs(lat)
	return Percentile(ms, 50), Percentile(ms, 99), errs
}

// streamKind is NDJSON (/api/generate) or SSE (/v1/chat/completions).
type streamKind struct {
	name, path, body string
	sse              bool
}

var (
	ndjson = streamKind{"ndjson", "/api/generate", generateStreamBody, false}
	sse    = streamKind{"sse", "/v1/chat/completions", chatStreamBody, true}
)

// streamSample is what streaming measurement returns, in ms.
type streamSample struct {
	ttfc []float64 // request sent -> first chunk complete
	gaps []float64 // between consecutive chunks
	errs int
}

// streaming keeps conc streams of chunks chunks, interval apart, running for
// d, and records time to first chunk and inter-chunk gaps.
func streaming(ctx context.Context, p path, k streamKind, conc, chunks int, interval, d time.Duration) streamSample {
	tr := newTransport(conc)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	hdr := p.header(true)
	hdr.Set("X-Mock-Chunks", itoa(chunks))
	hdr.Set("X-Mock-Interval", interval.String())
	warm := warmup(d)
	began := time.Now()
	from, to := began.Add(warm), began.Add(warm+d)
	var mu sync.Mutex
	var out streamSample
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(to) {
				start := time.Now()
				ttfc, gaps, err := oneStream(ctx, client, p.base+k.path, k, hdr)
				mu.Lock()
				if err != nil {
					out.errs++
				} else if !start.Before(from) {
					out.ttfc = append(out.ttfc, ttfc)
					out.gaps = append(out.gaps, gaps...)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func oneStream(ctx context.Context, c *http.Client, url string, k streamKind, hdr http.Header) (float64, []float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(k.body)))
	if err != nil {
		return 0, nil, err
	}
	req.Header = hdr.Clone()
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, nil, errStatus(resp.StatusCode)
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	var times []time.Time
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && (!k.sse || len(bytes.TrimSpace(line)) == 0) {
			// NDJSON: one line is one chunk. SSE: a blank line ends an event.
			times = append(times, time.Now())
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return 0, nil, err
		}
	}
	if len(times) == 0 {
		return 0, nil, io.ErrUnexpectedEOF
	}
	gaps := make([]float64, 0, len(times)-1)
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, float64(times[i].Sub(times[i-1]))/float64(time.Millisecond))
	}
	return float64(times[0].Sub(start)) / float64(time.Millisecond), gaps, nil
}

type errStatus int

func (e errStatus) Error() string { return "status " + itoa(int(e)) }

func itoa(n int) string { return strconv.Itoa(n) }

// idleStreams opens n streams whose first chunk is far away, waits until
// inFlight reports them all open at the backend (or timeout), calls atPeak,
// then cancels them all and waits for every client call to return.
func idleStreams(ctx context.Context, p path, n int, inFlight func() int, timeout time.Duration, atPeak func(opened int)) {
	tr := &http.Transport{Proxy: nil, MaxConnsPerHost: 0, MaxIdleConnsPerHost: -1, DisableKeepAlives: true, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hdr := p.header(true)
	hdr.Set("X-Mock-First-Delay", "10m")
	var wg sync.WaitGroup
	var started atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(sctx, http.MethodPost, p.base+"/api/generate", bytes.NewReader([]byte(generateStreamBody)))
			if err != nil {
				return
			}
			req.Header = hdr.Clone()
			started.Add(1)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // do not flood the accept queue
		}
	}
	deadline := time.Now().Add(timeout)
	opened := inFlight()
	for opened < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		opened = inFlight()
	}
	time.Sleep(200 * time.Millisecond) // let the proxy settle
	atPeak(inFlight())
	cancel()
	wg.Wait()
}
