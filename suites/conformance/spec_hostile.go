package conformance

// Hostile input: request smuggling, odd request targets and methods, protocol
// switches, header abuse and slow clients. Every request is written byte for
// byte on its own connection. A smuggled request carries its own tag, and
// hxWatch also fails on any untagged request the backend received (but the
// exempt GET /api/tags), so a smuggled request is caught even when it arrives
// under no tag at all.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

const (
	hxProtected = "/api/ps"
	hxGenBody   = `{"model":"llama3.2:1b","prompt":"hi","stream":false}`
	hxLiveness  = 2 * time.Second // a concurrent good client's bound in the slow-client specs
)

// hxWatch records which tags a spec sent and how, then judges everything the
// backend received since the spec began.
type hxWatch struct {
	from   int
	open   map[string]string // sent without a token: only exactly GET /api/tags may arrive
	authed map[string]bool   // sent with the token: may arrive
	never  map[string]string // smuggled: must never arrive as a request
}

func hxWatchBackend() *hxWatch {
	w := &hxWatch{open: map[string]string{}, authed: map[string]bool{}, never: map[string]string{}}
	for _, e := range H.Mock.Record().All() {
		w.from = max(w.from, e.Seq)
	}
	return w
}

func (w *hxWatch) unauth(tag, what string) string { w.open[tag] = what; return tag }
func (w *hxWatch) auth(tag string) string         { w.authed[tag] = true; return tag }

// smuggled returns a complete tokenless request for a protected route whose
// tag must never reach the backend.
func (w *hxWatch) smuggled(what string) string {
	tag := newTag()
	w.never[tag] = what
	return "GET " + hxProtected + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + TagHeader + ": " + tag + "\r\n\r\n"
}

// check waits briefly for stragglers, then fails on a smuggled tag, an
// untagged request (but the exempt GET /api/tags), or a tokenless request that arrived as anything but
// exactly GET /api/tags.
func (w *hxWatch) check() {
	time.Sleep(250 * time.Millisecond)
	for _, e := range H.Mock.Record().All() {
		if e.Seq <= w.from {
			continue
		}
		got := e.Method + " " + e.RequestURI
		if what, ok := w.never[e.Tag]; ok {
			Fail(fmt.Sprintf("%s: the request smuggled in the body reached the backend as %s (expected it never to)", what, got))
		}
		// Untagged is smuggled, except the exempt route itself: a proxy
		// that reads a bare-LF request line as HTTP/0.9 (nginx) forwards
		// exactly GET /api/tags with none of the client's headers.
		if e.Tag == "" && !(H.cfg.profile() == catalog.HealthExempt && exactTags(e.Method, e.RequestURI)) {
			Fail(fmt.Sprintf("the backend received %s carrying no tag: a request smuggled past the proxy (expected every request the backend sees to be one the harness sent as such)", got))
		}
		if what, ok := w.open[e.Tag]; ok && !exactTags(e.Method, e.RequestURI) {
			Fail(fmt.Sprintf("%s: reached the backend without a token as %s (only exactly GET /api/tags may)", what, got))
		}
	}
}

// hxResp is the first answer on a raw connection.
type hxResp struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
	Took   time.Duration
}

func (r hxResp) String() string {
	if r.Err != nil {
		return "no answer (" + r.Err.Error() + ")"
	}
	return fmt.Sprintf("%d %s", r.Status, clip(r.Body, 120))
}

// hxReq builds a request head: the request line, Host, the header lines, the
// tag when not empty, and the blank line.
func hxReq(line, tag string, headers ...string) string {
	var b strings.Builder
	b.WriteString(line + "\r\nHost: " + H.Proxy.Addr() + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if tag != "" {
		b.WriteString(TagHeader + ": " + tag + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// hxSend writes payload on a fresh connection from a goroutine (a proxy may
// answer and close before reading it all) and reads the first response.
func hxSend(ctx context.Context, payload, method string) hxResp {
	start := time.Now()
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", H.Proxy.Addr())
	if err != nil {
		return hxResp{Err: err}
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = io.WriteString(c, payload)
	}()
	defer func() { _ = c.Close(); <-wrote }()
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	// An interim answer (100 Continue to an Expect, 103 Early Hints) is not
	// the verdict: the final one follows on the same connection.
	for err == nil && res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
		res, err = http.ReadResponse(br, &http.Request{Method: method})
	}
	if err != nil {
		return hxResp{Err: err, Took: time.Since(start)}
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	_ = res.Body.Close()
	return hxResp{Status: res.StatusCode, Header: res.Header, Body: body, Took: time.Since(start)}
}

func hxChunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }

// hxExpect4xx asserts an answer in 400-499 (extra lists other allowed codes).
func hxExpect4xx(r hxResp, what string, extra ...int) {
	ExpectWithOffset(1, r.Err).NotTo(HaveOccurred(), "%s: expected a 4xx answer, the proxy gave none", what)
	for _, s := range extra {
		if r.Status == s {
			return
		}
	}
	ExpectWithOffset(1, r.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)), "%s: expected a 4xx rejection, got %s", what, r)
}

// hxExpectSafe accepts a closed connection, a 2xx/3xx/4xx answer or one of
// extra; a 5xx (other than extra) fails. What reached the backend is judged
// by the watch.
func hxExpectSafe(r hxResp, what string, extra ...int) {
	if r.Err != nil {
		return
	}
	for _, s := range extra {
		if r.Status == s {
			return
		}
	}
	ExpectWithOffset(1, r.Status).To(BeNumerically("<", 500), "%s: expected a 4xx rejection or a safe forward, got %s", what, r)
}

// hxStillServes asserts the proxy answers a tokenless GET /api/tags and an
// authenticated request on fresh connections.
func hxStillServes(ctx SpecContext, w *hxWatch, after string) {
	r := hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", w.unauth(newTag(), "GET /api/tags after "+after), "Connection: close"), "GET")
	ExpectWithOffset(1, r.Err).NotTo(HaveOccurred(), "after %s: the proxy no longer answers", after)
	ExpectWithOffset(1, r.Status).To(BeElementOf(200, 401), "after %s: GET /api/tags got %s", after, r)
	a := hxSend(ctx, hxReq("GET "+hxProtected+" HTTP/1.1", w.auth(newTag()), "Authorization: Bearer "+H.Token, "Connection: close"), "GET")
	ExpectWithOffset(1, a.Err).NotTo(HaveOccurred(), "after %s: the proxy no longer answers an authenticated request", after)
	ExpectWithOffset(1, a.Status).To(Equal(200), "after %s: an authenticated GET %s got %s", after, hxProtected, a)
}

// clTE is a CL.TE probe on the exempt route: a chunked body that ends at once,
// followed by a smuggled request, with a Content-Length covering it all.
func clTE(w *hxWatch, what string, teLines ...string) (head []string, body string) {
	body = "0\r\n\r\n" + w.smuggled(what)
	head = append([]string{"Content-Length: " + strconv.Itoa(len(body))}, teLines...)
	return head, body
}

var _ = Requirement("HOST-001", func(ctx SpecContext) {
	w := hxWatchBackend()
	// CL.TE on the exempt route, both header orders.
	for _, first := range []bool{true, false} {
		what := fmt.Sprintf("CL.TE on GET /api/tags (Content-Length first: %v)", first)
		head, body := clTE(w, what, "Transfer-Encoding: chunked")
		if !first {
			head[0], head[1] = head[1], head[0]
		}
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, head...)+body, "GET"), what, 501)
	}
	// TE.CL: a short Content-Length, the smuggled request inside the chunk.
	{
		what := "TE.CL on GET /api/tags"
		chunk := "abcd" + w.smuggled(what)
		body := hxChunk(chunk) + "0\r\n\r\n"
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, "Content-Length: 4", "Transfer-Encoding: chunked")+body, "GET"), what, 501)
	}
	// Authenticated and unauthenticated POSTs with both headers.
	{
		what := "CL.TE on an authenticated POST /api/generate"
		body := hxChunk(hxGenBody) + "0\r\n\r\n" + w.smuggled(what)
		tag := w.auth(newTag())
		hxExpectSafe(hxSend(ctx, hxReq("POST /api/generate HTTP/1.1", tag, "Authorization: Bearer "+H.Token,
			"Content-Type: application/json", "Content-Length: "+strconv.Itoa(len(body)), "Transfer-Encoding: chunked")+body, "POST"), what, 501)
	}
	{
		what := "CL.TE on a tokenless POST /api/generate"
		body := hxChunk(hxGenBody) + "0\r\n\r\n" + w.smuggled(what)
		tag := w.unauth(newTag(), what)
		hxExpect4xx(hxSend(ctx, hxReq("POST /api/generate HTTP/1.1", tag,
			"Content-Length: "+strconv.Itoa(len(body)), "Transfer-Encoding: chunked")+body, "POST"), what, 501)
	}
	w.check()
	hxStillServes(ctx, w, "Content-Length with Transfer-Encoding")
})

var _ = Requirement("HOST-002", func(ctx SpecContext) {
	w := hxWatchBackend()
	body := hxGenBody + strings.Repeat(" ", 60-len(hxGenBody)) // 60 bytes
	for _, cl := range [][]string{
		{"Content-Length: 5", "Content-Length: 60"},
		{"Content-Length: 60", "Content-Length: 5"},
		{"Content-Length: 5, 60"},
		{"Content-Length: +60"},
		{"Content-Length: 0x3c"},
		{"Content-Length: 60 5"},
	} {
		what := "POST /api/generate with the token and " + strings.Join(cl, " / ")
		tag := w.auth(newTag())
		head := append([]string{"Authorization: Bearer " + H.Token, "Content-Type: application/json"}, cl...)
		r := hxSend(ctx, hxReq("POST /api/generate HTTP/1.1", tag, head...)+body, "POST")
		Expect(r.Err).NotTo(HaveOccurred(), "%s: expected 400, the proxy gave no answer", what)
		Expect(r.Status).To(Equal(400), "%s: expected 400, got %s", what, r)
		ExpectNotReached(tag, what)
	}
	w.check()
	hxStillServes(ctx, w, "conflicting Content-Length")
})

var _ = Requirement("HOST-003", func(ctx SpecContext) {
	w := hxWatchBackend()
	for _, te := range [][]string{
		{"Transfer-Encoding: Chunked"},
		{"Transfer-Encoding: CHUNKED"},
		{"Transfer-Encoding:  chunked"},
		{"Transfer-Encoding:\tchunked"},
		{"Transfer-Encoding: chunked "},
		{"Transfer-Encoding: chunked, identity"},
		{"Transfer-Encoding: identity, chunked"},
		{"Transfer-Encoding: xchunked"},
		{"Transfer-Encoding: chunked", "Transfer-Encoding: identity"},
		{"Transfer-Encoding : chunked"},
	} {
		what := fmt.Sprintf("GET /api/tags with Content-Length and %q", strings.Join(te, " / "))
		head, body := clTE(w, what, te...)
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, head...)+body, "GET"), what, 501)
	}
	w.check()
	hxStillServes(ctx, w, "obfuscated Transfer-Encoding")
})

var _ = Requirement("HOST-004", func(ctx SpecContext) {
	w := hxWatchBackend()
	{
		what := "GET /api/tags with a folded Transfer-Encoding and a smuggled request"
		body := "0\r\n\r\n" + w.smuggled(what)
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, "Content-Length: "+strconv.Itoa(len(body)), "Transfer-Encoding:", " chunked")+body, "GET"), what)
	}
	for _, v := range [][]string{
		{"Authorization: Bearer", " " + NewToken()},
		{"Authorization:", "\tBearer " + NewToken()},
		{"X-Folded: a", "\tb", " c"},
		{"X-Folded: a", " Authorization: Bearer " + H.Token},
	} {
		what := fmt.Sprintf("GET %s without a valid token and folded header %q", hxProtected, strings.Join(v, "<fold>"))
		tag := w.unauth(newTag(), what)
		hxExpect4xx(hxSend(ctx, hxReq("GET "+hxProtected+" HTTP/1.1", tag, append(v, "Connection: close")...), "GET"), what)
		ExpectNotReached(tag, what)
	}
	{
		what := "GET " + hxProtected + " with the token folded onto a continuation line"
		tag := w.auth(newTag())
		r := hxSend(ctx, hxReq("GET "+hxProtected+" HTTP/1.1", tag, "Authorization: Bearer", " "+H.Token, "Connection: close"), "GET")
		Expect(r.Err).NotTo(HaveOccurred(), "%s: no answer", what)
		Expect(r.Status).To(BeElementOf(200, 400, 401), "%s: expected 400 (rejected) or the unfolded credential judged, got %s", what, r)
	}
	{
		what := "GET /api/tags whose first header line is folded"
		tag := w.unauth(newTag(), what)
		r := hxSend(ctx, "GET /api/tags HTTP/1.1\r\n X-Lead: fold\r\nHost: "+H.Proxy.Addr()+"\r\n"+TagHeader+": "+tag+"\r\nConnection: close\r\n\r\n", "GET")
		hxExpectSafe(r, what)
	}
	w.check()
	hxStillServes(ctx, w, "obs-fold")
})

var _ = Requirement("HOST-005", func(ctx SpecContext) {
	w := hxWatchBackend()
	{
		what := "HTTP/1.0 GET /api/tags with Transfer-Encoding: chunked and Content-Length"
		head, body := clTE(w, what, "Transfer-Encoding: chunked")
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.0", tag, head...)+body, "GET"), what, 501)
	}
	{
		what := "HTTP/1.0 GET /api/tags with Transfer-Encoding: chunked alone"
		body := "0\r\n\r\n" + w.smuggled(what)
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.0", tag, "Transfer-Encoding: chunked", "Connection: keep-alive")+body, "GET"), what, 501)
	}
	{
		what := "HTTP/1.0 POST /api/generate with the token, chunked, and Content-Length"
		body := hxChunk(hxGenBody) + "0\r\n\r\n" + w.smuggled(what)
		tag := w.auth(newTag())
		hxExpectSafe(hxSend(ctx, hxReq("POST /api/generate HTTP/1.0", tag, "Authorization: Bearer "+H.Token,
			"Transfer-Encoding: chunked", "Content-Length: "+strconv.Itoa(len(body)))+body, "POST"), what, 501)
	}
	{
		what := "HTTP/1.0 tokenless POST /api/generate, chunked"
		body := hxChunk(hxGenBody) + "0\r\n\r\n" + w.smuggled(what)
		tag := w.unauth(newTag(), what)
		hxExpect4xx(hxSend(ctx, hxReq("POST /api/generate HTTP/1.0", tag, "Transfer-Encoding: chunked")+body, "POST"), what, 501)
	}
	w.check()
	hxStillServes(ctx, w, "HTTP/1.0 with chunked")
})

var _ = Requirement("HOST-006", func(ctx SpecContext) {
	w := hxWatchBackend()
	post := func(what string, head []string, body string) {
		tag := w.unauth(newTag(), what)
		hxExpect4xx(hxSend(ctx, hxReq("POST /api/generate HTTP/1.1", tag, head...)+body, "POST"), what, 501)
	}
	s := w.smuggled("a request in the body of a refused POST")
	post("a refused POST carrying a request as its body", []string{"Content-Length: " + strconv.Itoa(len(s))}, s)
	s = w.smuggled("a request in the body of a refused keep-alive POST")
	post("a refused keep-alive POST carrying a request as its body", []string{"Connection: keep-alive", "Content-Length: " + strconv.Itoa(len(s))}, s)
	s = w.smuggled("a request in the chunked body of a refused POST")
	post("a refused chunked POST carrying a request", []string{"Transfer-Encoding: chunked"}, hxChunk(s)+"0\r\n\r\n")
	s = w.smuggled("a request after Expect: 100-continue")
	post("a refused POST with Expect: 100-continue", []string{"Expect: 100-continue", "Content-Length: " + strconv.Itoa(len(s))}, s)
	s = w.smuggled("a request after an empty body")
	post("a refused POST with Content-Length: 0 followed by a request", []string{"Content-Length: 0"}, s)

	{
		what := "the exempt GET /api/tags carrying a request as its body"
		s := w.smuggled(what)
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, "Content-Length: "+strconv.Itoa(len(s)))+s, "GET"), what)
	}
	{
		what := "the exempt GET /api/tags, CL.TE"
		head, body := clTE(w, what, "Transfer-Encoding: chunked")
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, head...)+body, "GET"), what, 501)
	}
	{
		what := "the exempt GET /api/tags, TE.CL"
		body := hxChunk("abcd"+w.smuggled(what)) + "0\r\n\r\n"
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, "Transfer-Encoding: chunked", "Content-Length: 4")+body, "GET"), what, 501)
	}
	w.check()
	hxStillServes(ctx, w, "smuggled requests")
})

// hxDecoy listens on loopback and counts connections: a host nothing should reach.
type hxDecoy struct {
	ln    net.Listener
	count atomic.Int64
	done  chan struct{}
}

func newDecoy() *hxDecoy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	d := &hxDecoy{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.count.Add(1)
			_ = c.Close()
		}
	}()
	return d
}

func (d *hxDecoy) Addr() string { return d.ln.Addr().String() }

func (d *hxDecoy) Close() int64 {
	time.Sleep(100 * time.Millisecond)
	_ = d.ln.Close()
	<-d.done
	return d.count.Load()
}

var _ = Requirement("HOST-007", func(ctx SpecContext) {
	w := hxWatchBackend()
	decoy := newDecoy()
	defer decoy.Close()
	for _, c := range []struct {
		target string
		authed bool
	}{
		{"http://" + decoy.Addr() + "/api/ps", true},
		{"http://" + decoy.Addr() + "/api/tags", false},
		{"http://" + decoy.Addr() + "/api/ps", false},
		{"https://" + decoy.Addr() + "/api/ps", true},
		{"http://localhost:" + strings.Split(decoy.Addr(), ":")[1] + "/api/version", true},
	} {
		what := fmt.Sprintf("GET %s (token: %v)", c.target, c.authed)
		tag := newTag()
		head := []string{"Connection: close"}
		if c.authed {
			w.auth(tag)
			head = append(head, "Authorization: Bearer "+H.Token)
		} else {
			w.unauth(tag, what)
		}
		line := "GET " + c.target + " HTTP/1.1\r\nHost: " + decoy.Addr() + "\r\n" + strings.Join(head, "\r\n") + "\r\n" + TagHeader + ": " + tag + "\r\n\r\n"
		r := hxSend(ctx, line, "GET")
		hxExpectSafe(r, what)
		if !c.authed && r.Err == nil && len(H.Seen(tag)) == 0 {
			Expect(r.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)), "%s: expected a 4xx, got %s", what, r)
		}
	}
	Expect(decoy.Close()).To(BeZero(), "an absolute-form request target made the proxy connect to the host it named (an open forward proxy)")
	w.check()
})

var _ = Requirement("HOST-008", func(ctx SpecContext) {
	w := hxWatchBackend()
	decoy := newDecoy()
	defer decoy.Close()
	for _, authority := range []string{H.Mock.Addr, decoy.Addr(), "localhost:" + itoa(H.BackendPort())} {
		what := "CONNECT " + authority + " without a token"
		tag := w.unauth(newTag(), what)
		c, err := net.DialTimeout("tcp", H.Proxy.Addr(), 3*time.Second)
		Expect(err).NotTo(HaveOccurred())
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "CONNECT "+authority+" HTTP/1.1\r\nHost: "+authority+"\r\n"+TagHeader+": "+tag+"\r\n\r\n")
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err == nil && res.StatusCode >= 200 && res.StatusCode < 300 {
			// A tunnel: show what it lets through.
			_, _ = io.WriteString(c, w.smuggled(what+", then a request through the tunnel"))
			if res2, err := http.ReadResponse(br, nil); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(res2.Body, 1<<20))
			}
		}
		_ = c.Close()
		Expect(err).NotTo(HaveOccurred(), "%s: expected a 4xx, the proxy gave no answer", what)
		Expect(res.StatusCode).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)), "%s: expected a 4xx, got %d (a tunnel)", what, res.StatusCode)
	}
	w.check()
	Expect(decoy.Close()).To(BeZero(), "CONNECT made the proxy open a connection to the host it named")
})

var _ = Requirement("HOST-009", func(ctx SpecContext) {
	w := hxWatchBackend()
	for _, head := range [][]string{
		nil,
		{"Origin: http://evil.example", "Access-Control-Request-Method: POST"},
		{"Content-Length: 0", "Max-Forwards: 0"},
	} {
		what := "OPTIONS * without a token " + strings.Join(head, " ")
		tag := w.unauth(newTag(), what)
		r := hxSend(ctx, hxReq("OPTIONS * HTTP/1.1", tag, append(head, "Connection: close")...), "OPTIONS")
		Expect(r.Err).NotTo(HaveOccurred(), "%s: no answer", what)
		Expect(r.Status).To(BeNumerically("<", 500), "%s: got %s", what, r)
		ExpectNotReached(tag, what)
	}
	w.check()
	hxStillServes(ctx, w, "OPTIONS *")
})

var _ = Requirement("HOST-010", func(ctx SpecContext) {
	w := hxWatchBackend()
	ws := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://evil.example"}
	for _, c := range []struct{ path, auth string }{
		{hxProtected, ""}, {"/api/chat", ""}, {"/api/generate", "Bearer " + NewToken()}, {"/v1/chat/completions", ""},
	} {
		what := "WebSocket upgrade on GET " + c.path + " without a valid token"
		tag := w.unauth(newTag(), what)
		head := append([]string(nil), ws...)
		if c.auth != "" {
			head = append(head, "Authorization: "+c.auth)
		}
		r := hxSend(ctx, hxReq("GET "+c.path+" HTTP/1.1", tag, head...), "GET")
		Expect(r.Err).NotTo(HaveOccurred(), "%s: no answer", what)
		Expect(r.Status).To(Equal(401), "%s: expected 401, got %s", what, r)
		ExpectNotReached(tag, what)
	}
	{
		what := "WebSocket upgrade on the exempt GET /api/tags"
		tag := w.unauth(newTag(), what)
		r := hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, ws...), "GET")
		hxExpectSafe(r, what)
		Expect(r.Status).NotTo(Equal(101), "%s: the proxy switched protocols", what)
	}
	w.check()
	hxStillServes(ctx, w, "WebSocket upgrades")
})

var _ = Requirement("HOST-011", func(ctx SpecContext) {
	w := hxWatchBackend()
	h2c := []string{"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"}
	for _, path := range []string{hxProtected, "/api/generate", "/api/tags"} {
		what := "Upgrade: h2c on GET " + path + " without a token"
		tag := w.unauth(newTag(), what)
		r := hxSend(ctx, hxReq("GET "+path+" HTTP/1.1", tag, h2c...), "GET")
		hxExpectSafe(r, what, 505)
		Expect(r.Status).NotTo(Equal(101), "%s: the proxy switched to HTTP/2", what)
		if path != "/api/tags" {
			Expect(r.Err).NotTo(HaveOccurred(), "%s: no answer", what)
			Expect(r.Status).To(Equal(401), "%s: expected 401, got %s", what, r)
		}
	}
	{
		what := "the HTTP/2 prior-knowledge preface"
		r := hxSend(ctx, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "PRI")
		if r.Err == nil {
			Expect(r.Status).NotTo(BeNumerically("<", 300), "%s: got %s", what, r)
		}
	}
	{
		// A real prior-knowledge HTTP/2 client, without a token.
		what := "an HTTP/2 prior-knowledge request without a token"
		protos := new(http.Protocols)
		protos.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Proxy: nil, Protocols: protos, TLSClientConfig: &tls.Config{}}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		for _, path := range []string{hxProtected, "/api/generate"} {
			tag := w.unauth(newTag(), what+" "+path)
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+H.Proxy.Addr()+path, nil)
			req.Header.Set(TagHeader, tag)
			if res, err := cl.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				Expect(res.StatusCode).To(Equal(401), "%s %s: expected 401, got %d", what, path, res.StatusCode)
			}
			ExpectNotReached(tag, what)
		}
	}
	w.check()
	hxStillServes(ctx, w, "h2c attempts")
})

var _ = Requirement("HOST-012", func(ctx SpecContext) {
	hxHeaderLimit(ctx, []hxHeads{
		{"one 2 MiB header", []string{"X-Big: " + strings.Repeat("b", 2<<20)}},
		{"a 3 MiB header section in 4 KiB lines", hxMany(768, func(i int) string { return fmt.Sprintf("X-Line-%d: %s", i, strings.Repeat("c", 4<<10)) })},
	})
})

var _ = Requirement("HOST-018", func(ctx SpecContext) {
	hxHeaderLimit(ctx, []hxHeads{
		{"one 128 KiB header", []string{"X-Big: " + strings.Repeat("a", 128<<10)}},
		{"a 200 KiB header section in 2 KiB lines", hxMany(100, func(i int) string { return fmt.Sprintf("X-Line-%d: %s", i, strings.Repeat("c", 2<<10)) })},
	})
})

type hxHeads struct {
	what string
	head []string
}

// hxHeaderLimit sends each oversized header section, with and without the
// exemption's path, and expects a 431 (or 400) and a proxy still serving.
func hxHeaderLimit(ctx SpecContext, cases []hxHeads) {
	w := hxWatchBackend()
	for _, c := range cases {
		for _, path := range []string{"/api/tags", hxProtected} {
			what := c.what + " on GET " + path
			tag := w.unauth(newTag(), what)
			r := hxSend(ctx, hxReq("GET "+path+" HTTP/1.1", tag, append(c.head, "Connection: close")...), "GET")
			Expect(r.Err).NotTo(HaveOccurred(), "%s: expected 431, the connection was dropped without an answer", what)
			Expect(r.Status).To(BeElementOf(431, 400), "%s: expected 431 (or 400), got %s", what, r)
		}
		hxStillServes(ctx, w, c.what)
	}
	w.check()
}

func hxMany(n int, line func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = line(i)
	}
	return out
}

var _ = Requirement("HOST-013", func(ctx SpecContext) {
	w := hxWatchBackend()
	for _, n := range []int{2000, 4000, 10000} {
		for _, authed := range []bool{false, true} {
			head := hxMany(n, func(i int) string { return "X-H" + itoa(i) + ": v" })
			if n == 10000 {
				head = hxMany(n, func(int) string { return "X-Same: v" })
			}
			what := fmt.Sprintf("GET %s with %d header fields (token: %v)", hxProtected, n, authed)
			tag := newTag()
			if authed {
				w.auth(tag)
				head = append(head, "Authorization: Bearer "+H.Token)
			} else {
				w.unauth(tag, what)
			}
			r := hxSend(ctx, hxReq("GET "+hxProtected+" HTTP/1.1", tag, append(head, "Connection: close")...), "GET")
			Expect(r.Err).NotTo(HaveOccurred(), "%s: no answer", what)
			Expect(r.Status).To(BeNumerically("<", 500), "%s: got %s", what, r)
			Expect(r.Took).To(BeNumerically("<", 5*time.Second), "%s: the answer took %s", what, r.Took)
			if !authed {
				Expect(r.Status).To(BeNumerically(">=", 400), "%s: expected a 4xx, got %s", what, r)
				ExpectNotReached(tag, what)
			}
		}
	}
	w.check()
	hxStillServes(ctx, w, "thousands of header fields")
})

var _ = Requirement("HOST-014", func(ctx SpecContext) {
	w := hxWatchBackend()
	{
		what := "GET /api/tags with a bare LF hiding Transfer-Encoding inside another header"
		body := "0\r\n\r\n" + w.smuggled(what)
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, "X-A: x\nTransfer-Encoding: chunked", "Content-Length: "+strconv.Itoa(len(body)))+body, "GET"), what, 501)
	}
	{
		what := "GET /api/tags with a bare CR hiding Transfer-Encoding inside another header"
		body := "0\r\n\r\n" + w.smuggled(what)
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET /api/tags HTTP/1.1", tag, "X-A: x\rTransfer-Encoding: chunked", "Content-Length: "+strconv.Itoa(len(body)))+body, "GET"), what, 501)
	}
	for _, line := range []string{
		"X-A: a\x00b", "X-A: a\rAuthorization: Bearer " + NewToken(), "X-\x00A: b", "X A: b", "NoColonHere",
		"Authorization\x00: Bearer " + H.Token, " : empty-name", "X-A: \x01\x02\x7f",
	} {
		what := fmt.Sprintf("GET %s with header line %q", hxProtected, strings.Replace(line, H.Token, "<token>", 1))
		tag := w.unauth(newTag(), what)
		hxExpect4xx(hxSend(ctx, hxReq("GET "+hxProtected+" HTTP/1.1", tag, line, "Connection: close"), "GET"), what)
		ExpectNotReached(tag, what)
	}
	for _, target := range []string{"/api/tags\rX-Injected: yes", "/api/tags\nX-Injected: yes", "/api/tags%0d%0aX-Injected:%20yes", "/api/ps%0d%0aAuthorization:%20Bearer%20x"} {
		what := fmt.Sprintf("request target %q without a token", target)
		tag := w.unauth(newTag(), what)
		hxExpectSafe(hxSend(ctx, hxReq("GET "+target+" HTTP/1.1", tag, "Connection: close"), "GET"), what)
	}
	{
		what := "an encoded CRLF in the request target with the token"
		tag := w.auth(newTag())
		r := hxSend(ctx, hxReq("GET /api/ps%0d%0aX-Injected:%20yes HTTP/1.1", tag, "Authorization: Bearer "+H.Token, "Connection: close"), "GET")
		hxExpectSafe(r, what)
		for _, e := range H.Seen(tag) {
			Expect(e.Header.Get("X-Injected")).To(BeEmpty(), "%s: the encoded CRLF became a header at the backend", what)
		}
	}
	w.check()
	Expect(H.Mock.Record().NeverSawHeader("X-Injected")).To(BeTrue(), "an injected X-Injected header reached the backend")
	hxStillServes(ctx, w, "header injection attempts")
})

var _ = Requirement("HOST-015", func(ctx SpecContext) {
	w := hxWatchBackend()
	for _, c := range []struct{ what, value string }{
		{"a 100 KB Bearer credential", "Bearer " + strings.Repeat("a", 100<<10)},
		{"the token followed by 100 KB", "Bearer " + H.Token + strings.Repeat("b", 100<<10)},
		{"100 KB of scheme", strings.Repeat("B", 100<<10) + " " + H.Token},
		{"a 60 KB Bearer credential", "Bearer " + strings.Repeat("c", 60<<10)},
	} {
		for _, path := range []string{hxProtected, "/api/tags"} {
			what := c.what + " on GET " + path
			tag := w.unauth(newTag(), what)
			r := hxSend(ctx, hxReq("GET "+path+" HTTP/1.1", tag, "Authorization: "+c.value, "Connection: close"), "GET")
			Expect(r.Err).NotTo(HaveOccurred(), "%s: expected 431, 400 or 401, the connection was dropped", what)
			if path == "/api/tags" && r.Status == 200 {
				continue // the exemption ignores Authorization; the watch checks it arrived as exactly GET /api/tags
			}
			Expect(r.Status).To(BeElementOf(431, 400, 401), "%s: expected 431, 400 or 401, got %s", what, r)
			ExpectNotReached(tag, what)
		}
	}
	w.check()
	hxStillServes(ctx, w, "100 KB Authorization headers")
})

// hxGood sends requests on fresh connections, as a client unaffected by the
// slow ones would, and returns how long the slowest took (or an error).
func hxGood(ctx context.Context, what string) time.Duration {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 3 * hxLiveness}
	var slowest time.Duration
	for _, rq := range []struct {
		method, path, body string
		auth               bool
		want               int
	}{
		{"GET", hxProtected, "", true, 200},
		{"POST", "/api/generate", hxGenBody, true, 200},
		{"GET", "/api/tags", "", false, 0}, // 200, or 401 under strict-auth
		{"POST", "/api/generate", hxGenBody, false, 401},
	} {
		var body io.Reader
		if rq.body != "" {
			body = strings.NewReader(rq.body)
		}
		req, _ := http.NewRequestWithContext(ctx, rq.method, "http://"+H.Proxy.Addr()+rq.path, body)
		req.Header.Set(TagHeader, newTag())
		if rq.auth {
			req.Header.Set("Authorization", "Bearer "+H.Token)
		}
		start := time.Now()
		res, err := cl.Do(req)
		ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s: %s %s from a concurrent good client got no answer within %s", what, rq.method, rq.path, 3*hxLiveness)
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if rq.want == 0 {
			ExpectWithOffset(1, res.StatusCode).To(BeElementOf(200, 401), "%s: %s %s from a concurrent good client", what, rq.method, rq.path)
		} else {
			ExpectWithOffset(1, res.StatusCode).To(Equal(rq.want), "%s: %s %s from a concurrent good client", what, rq.method, rq.path)
		}
		slowest = max(slowest, time.Since(start))
	}
	return slowest
}

// hxDribble keeps n connections busy writing prefix and then one byte of
// filler every gap until stop closes (or 20 s pass); wait returns once
// every connection is closed.
func hxDribble(n int, prefix string, filler byte, gap time.Duration, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", H.Proxy.Addr(), 3*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(25 * time.Second))
			if _, err := io.WriteString(c, prefix); err != nil {
				return
			}
			t := time.NewTicker(gap)
			defer t.Stop()
			end := time.After(20 * time.Second)
			for {
				select {
				case <-stop:
					return
				case <-end:
					return
				case <-t.C:
					if _, err := c.Write([]byte{filler}); err != nil {
						return
					}
				}
			}
		}()
	}
	return wg.Wait
}

var _ = Requirement("HOST-016", func(ctx SpecContext) {
	baseline := hxGood(ctx, "baseline, before any slow client")
	stop := make(chan struct{})
	wait := hxDribble(16, "GET "+hxProtected+" HTTP/1.1\r\nHost: "+H.Proxy.Addr()+"\r\nX-Slow: ", 'a', 100*time.Millisecond, stop)
	defer func() { close(stop); wait() }()
	time.Sleep(300 * time.Millisecond) // let the proxy accept them all
	took := hxGood(ctx, "16 slowloris connections open")
	Expect(took).To(BeNumerically("<", hxLiveness),
		"with 16 slowloris connections open, a good client's slowest request took %s (baseline %s); expected under %s", took, baseline, hxLiveness)
})

var _ = Requirement("HOST-017", func(ctx SpecContext) {
	baseline := hxGood(ctx, "baseline, before any slow upload")
	stop := make(chan struct{})
	authed := hxReq("POST /api/blobs/sha256:"+strings.Repeat("0", 64)+" HTTP/1.1", newTag(), "Authorization: Bearer "+H.Token, "Content-Length: 1048576")
	waitA := hxDribble(4, authed, 'x', 20*time.Millisecond, stop)
	unauth := hxReq("POST /api/generate HTTP/1.1", newTag(), "Content-Type: application/json", "Content-Length: 1048576")
	waitU := hxDribble(4, unauth, 'x', 20*time.Millisecond, stop)
	defer func() { close(stop); waitA(); waitU() }()
	time.Sleep(300 * time.Millisecond)

	// A tokenless upload that never sends its body gets its 401 at once.
	r := func() hxResp {
		c, err := net.DialTimeout("tcp", H.Proxy.Addr(), 3*time.Second)
		Expect(err).NotTo(HaveOccurred())
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * hxLiveness))
		start := time.Now()
		_, _ = io.WriteString(c, hxReq("POST /api/generate HTTP/1.1", newTag(), "Content-Length: 1048576")+"{")
		res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
		if err != nil {
			return hxResp{Err: err, Took: time.Since(start)}
		}
		_ = res.Body.Close()
		return hxResp{Status: res.StatusCode, Took: time.Since(start)}
	}()
	Expect(r.Err).NotTo(HaveOccurred(), "a tokenless upload that has not sent its body: expected 401 without waiting for it")
	Expect(r.Status).To(Equal(401), "a tokenless upload that has not sent its body")
	Expect(r.Took).To(BeNumerically("<", hxLiveness), "the 401 to a tokenless upload waited %s for its body", r.Took)

	took := hxGood(ctx, "8 slow uploads in progress")
	Expect(took).To(BeNumerically("<", hxLiveness),
		"with 8 slow uploads in progress, a good client's slowest request took %s (baseline %s); expected under %s", took, baseline, hxLiveness)
})
