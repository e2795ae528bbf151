package mockollama_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
)

func TestParseFaults(t *testing.T) {
	h := http.Header{}
	for k, v := range map[string]string{
		"x-mock-chunks": "20", "X-MOCK-INTERVAL": "50ms", "X-Mock-Header-Delay": "3s", "X-Mock-First-Delay": "1s",
		"X-Mock-Pause-After": "5", "X-Mock-Pause": "2s", "X-Mock-Status": "503", "X-Mock-Fault": "reset-after=3",
		"X-Mock-Huge": "67108864", "X-Mock-Read-Rate": "65536",
	} {
		h.Set(k, v)
	}
	f, err := mockollama.ParseFaults(h)
	if err != nil {
		t.Fatal(err)
	}
	want := mockollama.Faults{Chunks: 20, Interval: 50 * time.Millisecond, HeaderDelay: 3 * time.Second, FirstDelay: time.Second,
		PauseAfter: 5, Pause: 2 * time.Second, Status: 503, Fault: "reset-after=3", HugeBytes: 64 << 20, ReadRate: 65536}
	if f != want {
		t.Errorf("ParseFaults = %+v\nwant %+v", f, want)
	}
	if f, err := mockollama.ParseFaults(http.Header{}); err != nil || f != (mockollama.Faults{}) {
		t.Errorf("empty headers: %+v, %v", f, err)
	}

	for hdr, v := range map[string]string{
		"X-Mock-Chunks": "0", "X-Mock-Interval": "fast", "X-Mock-Header-Delay": "-1s", "X-Mock-First-Delay": "2h",
		"X-Mock-Pause-After": "x", "X-Mock-Pause": "1", "X-Mock-Status": "99", "X-Mock-Fault": "explode",
		"X-Mock-Huge": "-5", "X-Mock-Read-Rate": "1.5",
	} {
		_, err := mockollama.ParseFaults(http.Header{hdr: {v}})
		if err == nil || !strings.Contains(err.Error(), hdr) {
			t.Errorf("%s: %q: error %v does not name the header", hdr, v, err)
		}
	}
	for _, v := range []string{"reset-after", "close-after=-1", "close-after=x", "hang=1"} {
		if _, err := mockollama.ParseFaults(http.Header{"X-Mock-Fault": {v}}); err == nil {
			t.Errorf("fault %q accepted", v)
		}
	}

	// Over HTTP: 400 in Ollama's shape, naming the header; recorded anyway.
	s := start(t, mockollama.Options{})
	r := do(t, "POST", s.URL+"/api/generate", genBody, map[string]string{"X-Mock-Chunks": "lots", "X-Tollgate-Tag": "bad"})
	var e struct{ Error string }
	if r.status != 400 || json.Unmarshal(r.body, &e) != nil || !strings.Contains(e.Error, "X-Mock-Chunks") {
		t.Errorf("bad header: %d %s", r.status, r.body)
	}
	if got := s.Record().ByTag("bad"); len(got) != 1 || got[0].Status != 400 {
		t.Errorf("record: %+v", got)
	}
}

func TestFaultsJSON(t *testing.T) {
	f := mockollama.Faults{Interval: 50 * time.Millisecond, Pause: 3 * time.Second, PauseAfter: 2, Fault: "hang"}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"interval":"50ms"`) || !strings.Contains(string(b), `"pause":"3s"`) {
		t.Errorf("json = %s", b)
	}
	var back mockollama.Faults
	if err := json.Unmarshal(b, &back); err != nil || back != f {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	for _, bad := range []string{`{"interval":50}`, `{"interval":"soon"}`, `{"nope":1}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := (mockollama.Faults{Fault: "reset-after"}).Validate(); err == nil {
		t.Error("Validate accepted a fault without a count")
	}
}

func TestIntervalAndChunks(t *testing.T) {
	s := start(t, mockollama.Options{})
	st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody,
		map[string]string{"X-Mock-Chunks": "5", "X-Mock-Interval": "60ms"})
	if st.err != nil {
		t.Fatal(st.err)
	}
	if len(st.lines) != 6 {
		t.Fatalf("%d lines, want 5 + done", len(st.lines))
	}
	if ct := st.resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	if st.resp.ContentLength != -1 {
		t.Errorf("stream has a Content-Length %d", st.resp.ContentLength)
	}
	for _, g := range st.gaps() {
		within(t, "gap", g, 45*time.Millisecond, 2*time.Second)
	}
	// created_at tells the truth about when each line was sent, done line included.
	var prev time.Time
	for i, l := range st.lines {
		var g struct {
			CreatedAt time.Time `json:"created_at"`
		}
		if err := json.Unmarshal([]byte(l.line), &g); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			within(t, "created_at step", g.CreatedAt.Sub(prev), 45*time.Millisecond, 2*time.Second)
		}
		prev = g.CreatedAt
	}

	// Body options, when no header says otherwise.
	st = stream(t, context.Background(), "POST", s.URL+"/api/chat",
		`{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}],"options":{"mock_chunks":3,"mock_interval_ms":50}}`, nil)
	if len(st.lines) != 4 {
		t.Fatalf("%d lines, want 3 + done", len(st.lines))
	}
	for _, g := range st.gaps() {
		within(t, "body-option gap", g, 40*time.Millisecond, 2*time.Second)
	}
	// Headers win over body options.
	st = stream(t, context.Background(), "POST", s.URL+"/api/chat",
		`{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}],"options":{"mock_chunks":3}}`, map[string]string{"X-Mock-Chunks": "2"})
	if len(st.lines) != 3 {
		t.Fatalf("%d lines, want 2 + done", len(st.lines))
	}
	if r := do(t, "POST", s.URL+"/api/generate", `{"model":"llama3.2:1b","prompt":"x","options":{"mock_chunks":"many"}}`, nil); r.status != 400 ||
		!strings.Contains(string(r.body), "mock_chunks") {
		t.Errorf("bad body option: %d %s", r.status, r.body)
	}
}

func TestDefaultFaults(t *testing.T) {
	s := start(t, mockollama.Options{Chunks: 2})
	s.SetFaults(mockollama.Faults{Interval: 80 * time.Millisecond, Chunks: 4})
	st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody, nil)
	if len(st.lines) != 5 {
		t.Fatalf("%d lines, want 4 (SetFaults) + done", len(st.lines))
	}
	for _, g := range st.gaps() {
		within(t, "default gap", g, 70*time.Millisecond, 2*time.Second)
	}
	// A header set to zero overrides the default.
	st = stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody, map[string]string{"X-Mock-Interval": "0s"})
	if el := st.lines[len(st.lines)-1].at.Sub(st.headers); el > 60*time.Millisecond {
		t.Errorf("X-Mock-Interval: 0s did not override the default: stream took %v", el)
	}
	s.SetFaults(mockollama.Faults{})
	st = stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody, nil)
	if len(st.lines) != 3 {
		t.Fatalf("%d lines after clearing, want Options.Chunks 2 + done", len(st.lines))
	}
}

func TestPause(t *testing.T) {
	s := start(t, mockollama.Options{})
	st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody,
		map[string]string{"X-Mock-Chunks": "4", "X-Mock-Pause-After": "2", "X-Mock-Pause": "300ms"})
	if st.err != nil || len(st.lines) != 5 {
		t.Fatalf("lines %d, err %v", len(st.lines), st.err)
	}
	g := st.gaps()
	within(t, "pause gap (after chunk 2)", g[1], 280*time.Millisecond, 3*time.Second)
	for _, i := range []int{0, 2, 3} {
		within(t, "other gap", g[i], 0, 150*time.Millisecond)
	}
}

func TestFirstDelay(t *testing.T) {
	s := start(t, mockollama.Options{})
	st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody, map[string]string{"X-Mock-First-Delay": "300ms"})
	if st.err != nil {
		t.Fatal(st.err)
	}
	within(t, "headers", st.headers.Sub(st.sent), 0, 200*time.Millisecond)
	within(t, "first chunk after headers", st.lines[0].at.Sub(st.headers), 250*time.Millisecond, 3*time.Second)
}

func TestHeaderDelay(t *testing.T) {
	s := start(t, mockollama.Options{})
	st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody, map[string]string{"X-Mock-Header-Delay": "300ms"})
	if st.err != nil {
		t.Fatal(st.err)
	}
	within(t, "headers", st.headers.Sub(st.sent), 280*time.Millisecond, 3*time.Second)
	// Applies to plain JSON endpoints too.
	start := time.Now()
	if r := do(t, "GET", s.URL+"/api/tags", "", map[string]string{"X-Mock-Header-Delay": "200ms"}); r.status != 200 {
		t.Fatal(r.status)
	}
	within(t, "tags", time.Since(start), 180*time.Millisecond, 3*time.Second)
}

func TestResetAfter(t *testing.T) {
	s := start(t, mockollama.Options{})
	st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody,
		map[string]string{"X-Mock-Chunks": "10", "X-Mock-Fault": "reset-after=3", "X-Tollgate-Tag": "rst"})
	if st.err == nil {
		t.Fatal("no read error after a reset")
	}
	if !errors.Is(st.err, syscall.ECONNRESET) {
		t.Logf("read error (not ECONNRESET, accepted): %v", st.err)
	}
	if len(st.lines) != 3 {
		t.Errorf("read %d lines before the reset, want 3", len(st.lines))
	}
	e, ok := s.Record().WaitForTag("rst", 2*time.Second)
	if !ok || e.Status != 200 || e.BytesSent == 0 || e.Cancelled {
		t.Errorf("entry %+v", e)
	}
	// The mock keeps serving.
	if r := do(t, "GET", s.URL+"/api/version", "", nil); r.status != 200 {
		t.Errorf("after reset: %d %v", r.status, r.err)
	}
	// On a one-shot JSON endpoint, reset-after=0 resets after the headers.
	if r := do(t, "GET", s.URL+"/api/tags", "", map[string]string{"X-Mock-Fault": "reset-after=0"}); r.err == nil {
		t.Errorf("tags with reset-after=0 read fine: %d %s", r.status, r.body)
	}
}

func TestResetBeforeHeaders(t *testing.T) {
	s := start(t, mockollama.Options{})
	r := do(t, "POST", s.URL+"/api/generate", genBody, map[string]string{"X-Mock-Fault": "reset-before-headers", "X-Tollgate-Tag": "rbh"})
	if r.err == nil {
		t.Fatalf("got a response: %d", r.status)
	}
	if e, ok := s.Record().WaitForTag("rbh", 2*time.Second); !ok || e.Status != 0 || e.BytesSent != 0 {
		t.Errorf("entry %+v", e)
	}
}

// TestAnswerEarly: the first line comes while the client still holds back
// most of the body (it would wait for ever otherwise), the last one carries
// the digest of the whole body.
func TestAnswerEarly(t *testing.T) {
	s := start(t, mockollama.Options{})
	body := bytes.Repeat([]byte("early\x00\r\n"), 20_000)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/api/blobs/sha256:x", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("X-Mock-Fault", "answer-early")
	req.Header.Set("X-Tollgate-Tag", "early")
	go pw.Write(body[:1000])
	res, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != `{"status":"receiving"}`+"\n" || res.StatusCode != 200 {
		t.Fatalf("first line %q (%d, %v)", first, res.StatusCode, err)
	}
	go func() { pw.Write(body[1000:]); pw.Close() }()
	last, err := io.ReadAll(br)
	sum := sha256.Sum256(body)
	want := fmt.Sprintf(`{"status":"received","bytes":%d,"sha256":"%s","done":true}`+"\n", len(body), hex.EncodeToString(sum[:]))
	if err != nil || string(last) != want {
		t.Fatalf("last line %q, %v; want %q", last, err, want)
	}
	if e, ok := s.Record().WaitForTag("early", 2*time.Second); !ok || e.BodySize != int64(len(body)) || e.BodySHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("record %+v", e)
	}
}

func TestCloseAfter(t *testing.T) {
	s := start(t, mockollama.Options{})
	st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody,
		map[string]string{"X-Mock-Chunks": "10", "X-Mock-Fault": "close-after=2"})
	if st.err != nil {
		t.Fatalf("close-after should end the stream cleanly: %v", st.err)
	}
	if len(st.lines) != 2 || strings.Contains(st.lines[1].line, `"done":true`) {
		t.Errorf("lines %v, want 2 without done", st.lines)
	}
	// SSE: the first event (role) counts as a chunk.
	st = stream(t, context.Background(), "POST", s.URL+"/v1/chat/completions",
		`{"model":"llama3.2:1b","stream":true,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Mock-Fault": "close-after=1"})
	if len(st.lines) != 1 || !strings.Contains(st.lines[0].line, `"role":"assistant"`) {
		t.Errorf("SSE close-after=1: %v", st.lines)
	}
}

func TestHang(t *testing.T) {
	s := start(t, mockollama.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan streamed)
	go func() {
		done <- stream(t, ctx, "POST", s.URL+"/api/generate", genBody, map[string]string{"X-Mock-Fault": "hang", "X-Tollgate-Tag": "hang"})
	}()
	// Recorded on arrival, unfinished while hanging.
	deadline := time.Now().Add(2 * time.Second)
	for len(s.Record().ByTag("hang")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	es := s.Record().ByTag("hang")
	if len(es) != 1 || !es[0].Finished.IsZero() || es[0].Cancelled {
		t.Fatalf("while hanging: %+v", es)
	}
	if _, ok := s.Record().WaitForCancel("hang", 100*time.Millisecond); ok {
		t.Fatal("cancelled before the client went away")
	}
	cancelAt := time.Now()
	cancel()
	e, ok := s.Record().WaitForCancel("hang", 2*time.Second)
	if !ok {
		t.Fatal("hang never recorded as Cancelled")
	}
	within(t, "cancel detection", e.CancelledAt.Sub(cancelAt), 0, 200*time.Millisecond)
	if st := <-done; st.err == nil {
		t.Error("client saw no error")
	}
	if e, _ := s.Record().WaitForTag("hang", time.Second); e.Finished.IsZero() || e.Status != 0 {
		t.Errorf("settled entry %+v", e)
	}
}

func TestStreamCancel(t *testing.T) {
	s := start(t, mockollama.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/api/generate", strings.NewReader(genBody))
	req.Header.Set("X-Mock-Chunks", "100")
	req.Header.Set("X-Mock-Interval", "50ms")
	req.Header.Set("X-Tollgate-Tag", "walk-away")
	r, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	_, _ = r.Body.Read(buf)
	cancel()
	r.Body.Close()
	e, ok := s.Record().WaitForCancel("walk-away", 2*time.Second)
	if !ok || e.Finished.IsZero() || e.BytesSent == 0 {
		t.Errorf("entry %+v ok=%v", e, ok)
	}
}

func TestStatusFault(t *testing.T) {
	s := start(t, mockollama.Options{})
	r := do(t, "POST", s.URL+"/api/generate", genBody, map[string]string{"X-Mock-Status": "503"})
	var e struct{ Error string }
	if r.status != 503 || json.Unmarshal(r.body, &e) != nil || e.Error == "" {
		t.Errorf("native: %d %s", r.status, r.body)
	}
	r = do(t, "POST", s.URL+"/v1/chat/completions", `{}`, map[string]string{"X-Mock-Status": "500"})
	var oe struct {
		Error struct {
			Message string
			Type    string
			Param   *string
			Code    *string
		}
	}
	if r.status != 500 || json.Unmarshal(r.body, &oe) != nil || oe.Error.Message == "" || oe.Error.Type != "api_error" {
		t.Errorf("openai: %d %s", r.status, r.body)
	}
}

func TestHuge(t *testing.T) {
	s := start(t, mockollama.Options{})
	const n = 16 << 20
	var sums []string
	for i := range 2 {
		tag := "huge" + string(rune('a'+i))
		st := stream(t, context.Background(), "POST", s.URL+"/api/generate", genBody,
			map[string]string{"X-Mock-Huge": "16777216", "X-Tollgate-Tag": tag})
		if st.err != nil {
			t.Fatal(st.err)
		}
		if len(st.body) < n*99/100 || len(st.body) > n*101/100 {
			t.Errorf("huge body %d bytes, want about %d", len(st.body), n)
		}
		if !strings.Contains(st.lines[len(st.lines)-1].line, `"done":true`) {
			t.Error("huge stream has no done line")
		}
		e, ok := s.Record().WaitForTag(tag, 2*time.Second)
		if !ok || e.ResponseSHA256 != sha(st.body) || e.BytesSent != int64(len(st.body)) {
			t.Errorf("record sha %s bytes %d; client sha %s bytes %d", e.ResponseSHA256, e.BytesSent, sha(st.body), len(st.body))
		}
		sums = append(sums, sha(st.body))
		t.Logf("huge: %d bytes in %d lines", len(st.body), len(st.lines))
	}
	if sums[0] != sums[1] {
		t.Error("huge response not deterministic")
	}
	// SSE too.
	st := stream(t, context.Background(), "POST", s.URL+"/v1/chat/completions",
		`{"model":"llama3.2:1b","stream":true,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Mock-Huge": "1048576"})
	if len(st.body) < 1<<20*99/100 || len(st.body) > 1<<20*101/100 || st.lines[len(st.lines)-1].line != "data: [DONE]" {
		t.Errorf("huge SSE: %d bytes, last %q", len(st.body), st.lines[len(st.lines)-1].line)
	}
}

func TestReadRate(t *testing.T) {
	s := start(t, mockollama.Options{})
	body := `{"model":"llama3.2:1b","prompt":"` + strings.Repeat("x", 64<<10) + `","stream":false}`
	begin := time.Now()
	r := do(t, "POST", s.URL+"/api/generate", body, map[string]string{"X-Mock-Read-Rate": "131072", "X-Tollgate-Tag": "slow"})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	within(t, "64 KiB at 128 KiB/s", time.Since(begin), 400*time.Millisecond, 5*time.Second)
	e, _ := s.Record().WaitForTag("slow", time.Second)
	if e.BodySize != int64(len(body)) || e.BodySHA256 != sha([]byte(body)) || len(e.BodyHead) != 4096 {
		t.Errorf("entry body size %d sha %s head %d", e.BodySize, e.BodySHA256, len(e.BodyHead))
	}
}
