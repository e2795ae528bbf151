package mockollama

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// maxKeptBody is the largest request body kept in memory for JSON endpoints.
// Larger bodies are still read and digested in full (blob uploads are never
// kept).
const maxKeptBody = 64 << 20

// recWriter records what the mock sends.
type recWriter struct {
	rw     http.ResponseWriter
	status int
	bytes  int64
	sum    hash.Hash
}

func (w *recWriter) Header() http.Header { return w.rw.Header() }

func (w *recWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.rw.WriteHeader(code)
}

func (w *recWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.rw.Write(p)
	w.bytes += int64(n)
	w.sum.Write(p[:n])
	return n, err
}

func (w *recWriter) Flush() { _ = http.NewResponseController(w.rw).Flush() }

func (w *recWriter) Unwrap() http.ResponseWriter { return w.rw }

// call is one request in flight.
type call struct {
	m        *Mock
	w        *recWriter
	r        *http.Request
	ctx      context.Context
	entry    *Entry
	body     []byte // nil for blob uploads and oversized bodies
	big      bool   // body exceeded maxKeptBody
	f        Faults // effective faults
	mask     int    // fields set by headers
	spec     faultSpec
	openai   bool // errors in OpenAI's shape
	bodySHA  string
	bodySize int64

	cancelled   bool
	cancelledAt time.Time
	hijacked    bool
}

// ServeHTTP serves Ollama's API, recording the request first.
func (m *Mock) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	now := time.Now()
	e := &Entry{
		Tag: r.Header.Get(HeaderTag), Method: r.Method, RequestURI: r.RequestURI,
		Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Proto: r.Proto,
		RemoteAddr: r.RemoteAddr, Header: r.Header.Clone(), Started: now,
	}
	if e.RequestURI == "" {
		e.RequestURI = r.URL.RequestURI()
	}
	m.record.add(e)
	c := &call{
		m: m, w: &recWriter{rw: rw, sum: sha256.New()}, r: r, ctx: r.Context(), entry: e,
		openai: strings.HasPrefix(r.URL.Path, "/v1/"),
	}
	defer c.finish()
	c.serve()
}

// finish settles the entry once the handler is done (or has panicked with
// http.ErrAbortHandler).
func (c *call) finish() {
	p := recover()
	end := time.Now()
	status := c.w.status
	c.m.record.update(c.entry, func(e *Entry) {
		e.Finished = end
		e.Status = status
		e.BytesSent = c.w.bytes
		e.ResponseSHA256 = hex.EncodeToString(c.w.sum.Sum(nil))
		if c.cancelled {
			e.Cancelled, e.CancelledAt = true, c.cancelledAt
		}
	})
	c.m.log.Debug("mockollama request", "seq", c.entry.Seq, "tag", c.entry.Tag, "method", c.r.Method,
		"uri", c.r.RequestURI, "status", status, "bytes", c.w.bytes, "cancelled", c.cancelled,
		"hijacked", c.hijacked, "elapsed", end.Sub(c.entry.Started))
	if p != nil {
		panic(p)
	}
}

// gone records that the client went away.
func (c *call) gone() {
	if !c.cancelled {
		c.cancelled, c.cancelledAt = true, time.Now()
	}
}

// sleep waits d, or less if the client goes away (then it returns false).
func (c *call) sleep(d time.Duration) bool {
	if d <= 0 {
		if c.ctx.Err() != nil {
			c.gone()
			return false
		}
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		c.gone()
		return false
	}
}

func (c *call) serve() {
	m := c.m
	hf, mask, herr := parseFaultHeaders(c.r.Header)
	base := m.Faults()
	if base.Chunks == 0 {
		base.Chunks = m.opts.Chunks
	}
	if base.Interval == 0 {
		base.Interval = m.opts.Interval
	}
	if herr == nil {
		c.f, c.mask = overlay(base, hf, mask), mask
	} else {
		c.f = base
	}

	if herr == nil && allowedHost(c.r.Host) {
		if spec, err := parseFaultSpec(c.f.Fault); err == nil && spec.kind == faultAnswerEarly {
			c.answerEarly()
			return
		}
	}

	// Read and digest the whole body before answering anything.
	keep := !strings.HasPrefix(c.r.URL.Path, "/api/blobs/")
	if err := c.readBody(keep); err != nil {
		if c.ctx.Err() != nil || errors.Is(err, context.Canceled) {
			c.gone()
			return
		}
		c.error(http.StatusBadRequest, "reading request body: "+err.Error())
		return
	}

	if !allowedHost(c.r.Host) {
		// As Ollama bound to loopback: a bare 403, no body.
		c.w.WriteHeader(http.StatusForbidden)
		return
	}
	if herr != nil {
		c.error(http.StatusBadRequest, herr.Error())
		return
	}
	spec, err := parseFaultSpec(c.f.Fault)
	if err != nil {
		c.error(http.StatusInternalServerError, "mock default faults: "+err.Error())
		return
	}
	c.spec = spec
	switch spec.kind {
	case faultResetBeforeHeaders:
		c.reset()
		return
	case faultHang:
		<-c.ctx.Done()
		c.gone()
		return
	}
	if !c.sleep(c.f.HeaderDelay) {
		return
	}
	if c.f.Status != 0 {
		c.error(c.f.Status, fmt.Sprintf("mock fault: status %d", c.f.Status))
		return
	}
	m.route(c)
}

// answerEarly (X-Mock-Fault: answer-early) starts its answer before reading
// the request body, as any full-duplex HTTP/1.1 server may (Ollama answers an
// upload of a blob it already has without reading it): one NDJSON line, then
// the body is read, then a last line with the size and SHA-256 received. A
// proxy that stops forwarding the body once the answer has begun shows as a
// missing last line or a wrong digest.
func (c *call) answerEarly() {
	_ = http.NewResponseController(c.w.rw).EnableFullDuplex()
	c.w.Header().Set("Content-Type", "application/x-ndjson")
	c.w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(c.w, `{"status":"receiving"}`+"\n"); err != nil {
		c.gone()
		return
	}
	c.w.Flush()
	if err := c.readBody(false); err != nil {
		c.gone() // the body never arrived whole: no last line
		return
	}
	last, _ := json.Marshal(struct {
		Status string `json:"status"`
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
		Done   bool   `json:"done"`
	}{"received", c.bodySize, c.bodySHA, true})
	if _, err := c.w.Write(append(last, '\n')); err != nil {
		c.gone()
	}
}

// readBody reads the whole request body at most ReadRate bytes/s, digesting
// it into the entry and keeping it in c.body when keep is set.
func (c *call) readBody(keep bool) error {
	if c.r.Body == nil {
		c.setBody(0, sha256.New(), nil)
		return nil
	}
	rate := c.f.ReadRate
	h := sha256.New()
	var head, kept bytes.Buffer
	var total int64
	buf := make([]byte, 32<<10)
	start := time.Now()
	var rerr error
	for {
		lim := len(buf)
		if rate > 0 && int64(lim) > rate/20+1 {
			lim = int(rate/20 + 1) // ~50 ms of budget per read
		}
		n, err := c.r.Body.Read(buf[:lim])
		if n > 0 {
			h.Write(buf[:n])
			if head.Len() < bodyHeadSize {
				head.Write(buf[:min(n, bodyHeadSize-head.Len())])
			}
			if keep && !c.big {
				if total+int64(n) > maxKeptBody {
					c.big = true
					kept = bytes.Buffer{}
				} else {
					kept.Write(buf[:n])
				}
			}
			total += int64(n)
			if rate > 0 {
				due := time.Duration(float64(total) / float64(rate) * float64(time.Second))
				if el := time.Since(start); due > el && !c.sleep(due-el) {
					rerr = context.Canceled
					break
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if keep && !c.big {
		c.body = kept.Bytes()
		if c.body == nil {
			c.body = []byte{}
		}
	}
	c.setBody(total, h, head.Bytes())
	return rerr
}

func (c *call) setBody(n int64, h hash.Hash, head []byte) {
	sum := hex.EncodeToString(h.Sum(nil))
	c.bodySHA, c.bodySize = sum, n
	c.m.record.update(c.entry, func(e *Entry) {
		e.BodySize, e.BodySHA256, e.BodyHead = n, sum, head
	})
}

// allowedHost is Ollama's rule for a server bound to loopback.
func allowedHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "" {
		return false
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.IsLoopback()
	}
	h = strings.ToLower(h)
	if h == "localhost" {
		return true
	}
	for _, tld := range []string{".localhost", ".local", ".internal"} {
		if strings.HasSuffix(h, tld) && len(h) > len(tld) {
			return true
		}
	}
	return false
}

// ---- responses ----

func (c *call) isHead() bool { return c.r.Method == http.MethodHead }

// error answers status with an error body in Ollama's or OpenAI's shape.
func (c *call) error(status int, msg string) {
	if c.openai {
		etype := "api_error"
		switch status {
		case http.StatusBadRequest:
			etype = "invalid_request_error"
		case http.StatusNotFound:
			etype = "not_found_error"
		}
		type oaError struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		}
		c.json(status, map[string]oaError{"error": {Message: msg, Type: etype}})
		return
	}
	c.json(status, map[string]string{"error": msg})
}

// json writes v as a single JSON body. reset-after=N and close-after=N apply
// to it as to a one-chunk stream.
func (c *call) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"mock: encoding response"}`)
	}
	b = append(b, '\n')
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.raw(status, b)
}

// raw writes a complete, non-streamed body.
func (c *call) raw(status int, b []byte) {
	if c.isHead() {
		c.w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		c.w.WriteHeader(status)
		return
	}
	switch c.spec.kind {
	case faultResetAfter, faultCloseAfter:
		if c.spec.n == 0 {
			c.w.WriteHeader(status)
			c.w.Flush()
			if c.spec.kind == faultResetAfter {
				c.reset()
			}
			return
		}
	}
	c.w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	c.w.WriteHeader(status)
	if _, err := c.w.Write(b); err != nil {
		c.gone()
		return
	}
	if c.spec.kind == faultResetAfter {
		c.w.Flush()
		c.reset()
	}
}

// reset aborts the connection with a TCP RST (SO_LINGER 0).
func (c *call) reset() {
	conn, _, err := http.NewResponseController(c.w.rw).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a test recorder): abort the stream.
		c.hijacked = true
		panic(http.ErrAbortHandler)
	}
	c.hijacked = true
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// stream sends the units produced by next (false = end) as a flushed
// stream, applying the chunk-level faults. It reports whether the stream ran
// to its end.
func (c *call) stream(contentType string, next func() (unit, bool)) bool {
	h := c.w.Header()
	h.Set("Content-Type", contentType)
	if strings.HasPrefix(contentType, "text/event-stream") {
		h.Set("Cache-Control", "no-cache")
	}
	c.w.WriteHeader(http.StatusOK)
	c.w.Flush()
	if c.isHead() {
		return true
	}
	if !c.sleep(c.f.FirstDelay) {
		return false
	}
	sent := 0
	stop := func() bool {
		switch c.spec.kind {
		case faultResetAfter:
			if sent == c.spec.n {
				c.reset()
				return true
			}
		case faultCloseAfter:
			if sent == c.spec.n {
				return true
			}
		}
		return false
	}
	if stop() {
		return false
	}
	for {
		u, ok := next()
		if !ok {
			return true
		}
		if sent > 0 && !c.sleep(c.f.Interval) {
			return false
		}
		if _, err := c.w.Write(u()); err != nil {
			c.gone()
			return false
		}
		c.w.Flush()
		sent++
		if c.ctx.Err() != nil {
			c.gone()
			return false
		}
		if stop() {
			return false
		}
		if c.f.PauseAfter > 0 && sent == c.f.PauseAfter && !c.sleep(c.f.Pause) {
			return false
		}
	}
}

// decode parses the kept body as JSON into v; on failure it answers 400 and
// returns false.
func (c *call) decode(v any) bool {
	if c.big {
		c.error(http.StatusRequestEntityTooLarge, "request body too large for the mock")
		return false
	}
	if len(bytes.TrimSpace(c.body)) == 0 {
		c.error(http.StatusBadRequest, "missing request body")
		return false
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		c.error(http.StatusBadRequest, err.Error())
		return false
	}
	return true
}
