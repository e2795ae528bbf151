package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const genBody = `{"model":"llama3.2:1b","prompt":"tell me about gates"}`

// paced asks the mock for n chunks, gap apart.
func paced(n int, gap time.Duration) []Opt {
	return []Opt{Header("X-Mock-Chunks", strconv.Itoa(n)), Header("X-Mock-Interval", gap.String())}
}

// ExpectIncremental asserts that lines arrived spread over time as the
// backend sent them: a buffering proxy delivers them all at once at the end.
func ExpectIncremental(s Stream, minLines int, gap time.Duration, what string) {
	lines := s.NonEmpty()
	ExpectWithOffset(1, s.Err).NotTo(HaveOccurred(), "%s: reading the stream", what)
	ExpectWithOffset(1, s.Status).To(Equal(200), "%s: status", what)
	ExpectWithOffset(1, len(lines)).To(BeNumerically(">=", minLines), "%s: lines received", what)
	sent := time.Duration(minLines-1) * gap
	spread := lines[len(lines)-1].At - lines[0].At
	ExpectWithOffset(1, spread).To(BeNumerically(">=", sent/2),
		"%s: the backend spread its chunks over %s but they reached the client within %s (first at %s): the stream was buffered",
		what, sent, spread, lines[0].At)
}

func hasDone(s Stream) bool {
	for _, l := range s.NonEmpty() {
		if bytes.Contains(l.Data, []byte(`"done":true`)) {
			return true
		}
	}
	return false
}

var _ = Requirement("STRM-001", func(ctx SpecContext) {
	s := H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, append(paced(5, 60*time.Millisecond), H.Authed())...)
	ExpectIncremental(s, 5, 60*time.Millisecond, "/api/generate NDJSON")
	Expect(hasDone(s)).To(BeTrue(), "the final done line")
})

var _ = Requirement("STRM-002", func(ctx SpecContext) {
	body := `{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}]}`
	s := H.Stream(ctx, "POST", "/api/chat", strings.NewReader(body), nil, append(paced(5, 60*time.Millisecond), H.Authed())...)
	ExpectIncremental(s, 5, 60*time.Millisecond, "/api/chat NDJSON")
	Expect(hasDone(s)).To(BeTrue(), "the final done line")
})

var _ = Requirement("STRM-003", func(ctx SpecContext) {
	// One progress line per layer: 8 lines in all, 60 ms apart.
	s := H.Stream(ctx, "POST", "/api/pull", strings.NewReader(`{"model":"llama3.2:1b"}`), nil, append(paced(1, 60*time.Millisecond), H.Authed())...)
	ExpectIncremental(s, 5, 60*time.Millisecond, "/api/pull progress")
	last := s.NonEmpty()[len(s.NonEmpty())-1]
	Expect(string(last.Data)).To(ContainSubstring("success"), "the final pull status")
})

func sseBody(stream bool) string {
	return fmt.Sprintf(`{"model":"llama3.2:1b","stream":%v,"messages":[{"role":"user","content":"hi"}]}`, stream)
}

var _ = Requirement("STRM-004", func(ctx SpecContext) {
	s := H.Stream(ctx, "POST", "/v1/chat/completions", strings.NewReader(sseBody(true)), nil, append(paced(5, 60*time.Millisecond), H.Authed())...)
	ExpectIncremental(s, 5, 60*time.Millisecond, "/v1/chat/completions SSE")
	lines := s.NonEmpty()
	Expect(string(trimEOL(lines[len(lines)-1].Data))).To(Equal("data: [DONE]"), "the last SSE event")
})

var _ = Requirement("STRM-005", func(ctx SpecContext) {
	for _, c := range []struct{ path, body string }{{"/api/generate", genBody}, {"/v1/chat/completions", sseBody(true)}} {
		s := H.Stream(ctx, "POST", c.path, strings.NewReader(c.body), nil, append(paced(4, 20*time.Millisecond), H.Authed())...)
		Expect(s.Status).To(Equal(200))
		Expect(s.Header.Get("Content-Length")).To(BeEmpty(), "%s: Content-Length on a stream", c.path)
		Expect(s.ContentLength).To(Equal(int64(-1)), "%s: the stream's length must stay unknown", c.path)
	}
})

var _ = Requirement("STRM-006", func(ctx SpecContext) {
	for _, c := range []struct{ path, body, ct string }{
		{"/api/generate", genBody, "application/x-ndjson"}, {"/v1/chat/completions", sseBody(true), "text/event-stream"},
	} {
		s := H.Stream(ctx, "POST", c.path, strings.NewReader(c.body), nil, append(paced(2, 0), H.Authed())...)
		Expect(s.Header.Get("Content-Type")).To(HavePrefix(c.ct), "%s: Content-Type", c.path)
	}
})

var _ = Requirement("STRM-007", func(ctx SpecContext) {
	s := H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil,
		append(paced(3, 0), H.Authed(), Header("X-Mock-Header-Delay", "2200ms"))...)
	Expect(s.Err).NotTo(HaveOccurred(), "a stream after 2.2 s of silence before headers")
	Expect(s.Status).To(Equal(200), "status after a 2.2 s cold load")
	Expect(hasDone(s)).To(BeTrue(), "the stream must complete after the cold load")
}, SpecTimeout(30*time.Second))

var _ = Requirement("STRM-008", func(ctx SpecContext) {
	s := H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil,
		append(paced(4, 0), H.Authed(), Header("X-Mock-Pause-After", "2"), Header("X-Mock-Pause", "2200ms"))...)
	Expect(s.Err).NotTo(HaveOccurred(), "a stream with 2.2 s of silence in the middle")
	Expect(hasDone(s)).To(BeTrue(), "the stream must complete after the silence (got %d lines)", len(s.NonEmpty()))
})

var _ = Requirement("STRM-009", func(ctx SpecContext) {
	s := H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, append(paced(21, 210*time.Millisecond), H.Authed())...)
	Expect(s.Err).NotTo(HaveOccurred(), "a 4.2 s stream")
	Expect(len(s.NonEmpty())).To(BeNumerically(">=", 22), "lines of a 4.2 s stream")
	Expect(hasDone(s)).To(BeTrue(), "a 4.2 s stream must be delivered in full")
})

var _ = Requirement("STRM-010", func(ctx SpecContext) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var cancelledAt time.Time
	s := H.Stream(sctx, "POST", "/api/generate", strings.NewReader(genBody), func(l Line) bool {
		cancelledAt = time.Now()
		cancel() // walk away after the first chunk
		return true
	}, append(paced(100, 100*time.Millisecond), H.Authed())...)
	Expect(s.Lines).NotTo(BeEmpty(), "the first chunk")
	e, ok := H.Mock.Record().WaitForCancel(s.Tag, 3*time.Second)
	Expect(ok).To(BeTrue(), "the backend request was not cancelled within 3 s of the client leaving")
	Expect(e.CancelledAt.Sub(cancelledAt)).To(BeNumerically("<", time.Second), "time from client disconnect to backend cancel")
})

var _ = Requirement("STRM-011", func(ctx SpecContext) {
	s := H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil,
		append(paced(10, 20*time.Millisecond), H.Authed(), Header("X-Mock-Fault", "reset-after=3"))...)
	Expect(hasDone(s)).To(BeFalse(), "the client saw a done line although the backend died after 3 chunks: a fabricated end")
	Expect(s.Err != nil || len(s.NonEmpty()) <= 3).To(BeTrue(),
		"the client must see the stream end early (a read error or only the chunks sent); got %d lines, err %v", len(s.NonEmpty()), s.Err)
	time.Sleep(100 * time.Millisecond)
	ExpectForwarded(H.Get(ctx, protected, H.Authed()), "a request after the backend died mid-stream")
})

var _ = Requirement("STRM-012", func(ctx SpecContext) {
	req, tag, err := H.request(ctx, "POST", "/api/generate", strings.NewReader(genBody), H.Authed(), Header("X-Mock-Huge", strconv.Itoa(64<<20)))
	Expect(err).NotTo(HaveOccurred())
	res, err := H.client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	h := sha256.New()
	n, err := io.Copy(h, res.Body)
	res.Body.Close()
	Expect(err).NotTo(HaveOccurred(), "reading a 64 MiB stream")
	e, ok := H.SeenOne(tag)
	Expect(ok).To(BeTrue())
	Expect(n).To(Equal(e.BytesSent), "bytes received vs. bytes the backend sent")
	Expect(hex.EncodeToString(h.Sum(nil))).To(Equal(e.ResponseSHA256), "sha256 received vs. sent")
	Expect(n).To(BeNumerically(">=", 60<<20), "size of the huge response")
})

var _ = Requirement("STRM-013", func(ctx SpecContext) {
	var wg sync.WaitGroup
	var slow Stream
	wg.Add(1)
	go func() {
		defer GinkgoRecover()
		defer wg.Done()
		slow = H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil,
			append(paced(2, 0), H.Authed(), Header("X-Mock-First-Delay", "1000ms"))...)
	}()
	time.Sleep(200 * time.Millisecond)
	fast := H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, append(paced(3, 0), H.Authed())...)
	Expect(fast.Err).NotTo(HaveOccurred())
	Expect(hasDone(fast)).To(BeTrue(), "the fast stream")
	Expect(fast.Total).To(BeNumerically("<", 800*time.Millisecond), "a fast stream took %s while a slow one was open: streams are serialised", fast.Total)
	wg.Wait()
	Expect(hasDone(slow)).To(BeTrue(), "the slow stream")
})
