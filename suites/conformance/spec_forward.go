package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/mockollama"
)

var _ = Requirement("FWD-001", func(ctx SpecContext) {
	for _, auth := range []string{"Bearer " + H.Token, "bearer " + H.Token} {
		r := H.Get(ctx, protected, Auth(auth))
		ExpectForwarded(r, "an authenticated request")
		e, _ := H.SeenOne(r.Tag)
		Expect(e.Header.Values("Authorization")).To(BeEmpty(), "the backend received Authorization: %q", e.Header.Values("Authorization"))
	}
	Expect(H.Mock.Record().NeverSawHeader("Authorization")).To(BeTrue(), "the backend saw an Authorization header on some request")
})

var _ = Requirement("FWD-002", func(ctx SpecContext) {
	for _, host := range []string{"evil.example.com", "ollama.attacker.test:11434", "0.0.0.0:11435"} {
		r := H.Get(ctx, protected, H.Authed(), Host(host))
		e, ok := H.SeenOne(r.Tag)
		Expect(ok).To(BeTrue(), "Host %s: the request never reached the backend (%s)", host, r)
		Expect(isLoopbackHost(e.Host)).To(BeTrue(), "client Host %q reached the backend as Host %q; expected the backend's loopback address", host, e.Host)
		Expect(r.Status).To(Equal(200), "Host %s: expected Ollama's 200, got %s", host, r)
	}
})

func isLoopbackHost(h string) bool {
	return strings.HasPrefix(h, "127.0.0.1") || strings.HasPrefix(h, "localhost") || strings.HasPrefix(h, "[::1]")
}

var _ = Requirement("FWD-003", func(ctx SpecContext) {
	cases := []struct{ method, uri string }{
		{"GET", "/api/tollgate/probe?a=1&b=%2F&c=x+y&d=%E2%9C%93&e=&e=2"},
		{"POST", "/api/tollgate/%41b%2Fc/d%20e?q=%00%ff"},
		{"DELETE", "/api/tollgate/x;y=z/./w?order=b&order=a"},
		{"PUT", "/v1/tollgate/UPPER/lower?Mixed=Case"},
	}
	for _, c := range cases {
		r := H.Raw(ctx, c.method+" "+c.uri+" HTTP/1.1", "Authorization: Bearer "+H.Token, "Content-Length: 0")
		e, ok := H.SeenOne(r.Tag)
		Expect(ok).To(BeTrue(), "%s %s never reached the backend (%d)", c.method, c.uri, r.Status)
		Expect(e.Method+" "+e.RequestURI).To(Equal(c.method+" "+c.uri), "the request line the backend received")
	}
})

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// blobBody is deterministic binary content of n bytes with CR, LF, NUL and
// trailing whitespace, the bytes a careless proxy mangles.
func blobBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i/7)
	}
	copy(b, "\x00\r\n\xff{")
	if n > 4 {
		copy(b[n-4:], " \r\n\n")
	}
	return b
}

func expectBlobForwarded(r Resp, body []byte, what string) {
	e, ok := H.SeenOne(r.Tag)
	ExpectWithOffset(1, ok).To(BeTrue(), "%s never reached the backend (%s)", what, r)
	ExpectWithOffset(1, e.BodySize).To(Equal(int64(len(body))), "%s: bytes the backend received", what)
	ExpectWithOffset(1, e.BodySHA256).To(Equal(sha(body)), "%s: sha256 of what the backend received", what)
	ExpectWithOffset(1, r.Status).To(Equal(201), "%s: the backend's verdict on the upload: %s", what, r)
}

var _ = Requirement("FWD-004", func(ctx SpecContext) {
	body := blobBody(70_000)
	r := H.Do(ctx, "POST", "/api/blobs/sha256:"+sha(body), bytes.NewReader(body), H.Authed())
	expectBlobForwarded(r, body, "a 70 kB binary body")
	json := []byte("{\"model\":\"llama3.2:1b\",\"prompt\":\"caf\u00e9 \\u0000 \\n\",\"stream\":false}\n\n")
	g := H.Do(ctx, "POST", "/api/generate", bytes.NewReader(json), H.Authed(), Header("Content-Type", "application/json"))
	e, _ := H.SeenOne(g.Tag)
	Expect(e.BodySHA256).To(Equal(sha(json)), "a JSON body with a trailing blank line")
})

var _ = Requirement("FWD-005", func(ctx SpecContext) {
	body := blobBody(32 << 20)
	r := H.Do(ctx, "POST", "/api/blobs/sha256:"+sha(body), bytes.NewReader(body), H.Authed())
	expectBlobForwarded(r, body, "a 32 MiB body")
})

var _ = Requirement("FWD-006", func(ctx SpecContext) {
	body := blobBody(3 << 20)
	// A reader of unknown length makes Go's client send Transfer-Encoding: chunked.
	chunked := io.MultiReader(bytes.NewReader(body[:1000]), bytes.NewReader(body[1000:]))
	req, tag, err := H.request(ctx, "POST", "/api/blobs/sha256:"+sha(body), chunked, H.Authed())
	Expect(err).NotTo(HaveOccurred())
	req.ContentLength = -1
	res, err := H.client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	expectBlobForwarded(Resp{Status: res.StatusCode, Body: b, Tag: tag}, body, "a chunked 3 MiB body")
})

var _ = Requirement("FWD-007", func(ctx SpecContext) {
	r := H.Raw(ctx, "GET "+protected+" HTTP/1.1",
		"Authorization: Bearer "+H.Token,
		"Connection: keep-alive, X-Tollgate-Hop",
		"X-Tollgate-Hop: must-not-pass",
		"Keep-Alive: timeout=5, max=100",
		"Proxy-Authorization: Basic dG9sbGdhdGU6c2VjcmV0",
		"Proxy-Connection: keep-alive",
		"TE: gzip",
	)
	e, ok := H.SeenOne(r.Tag)
	Expect(ok).To(BeTrue(), "the request never reached the backend (%d)", r.Status)
	for _, h := range []string{"X-Tollgate-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection"} {
		Expect(e.Header.Values(h)).To(BeEmpty(), "hop-by-hop header %s reached the backend: %q", h, e.Header.Values(h))
	}
	Expect(strings.ToLower(strings.Join(e.Header.Values("Connection"), ","))).NotTo(ContainSubstring("x-tollgate-hop"), "the client's Connection header reached the backend")
	for _, te := range e.Header.Values("Te") {
		Expect(te).To(Equal("trailers"), "TE %q reached the backend (only `trailers` may)", te)
	}
})

var _ = Requirement("FWD-008", func(ctx SpecContext) {
	spoof := map[string]string{
		"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "spoofed.example", "X-Forwarded-Proto": "gopher",
		"Forwarded": "for=6.6.6.6;host=spoofed.example;proto=gopher", "X-Real-Ip": "6.6.6.6",
	}
	opts := []Opt{H.Authed()}
	for k, v := range spoof {
		opts = append(opts, Header(k, v))
	}
	r := H.Get(ctx, protected, opts...)
	e, ok := H.SeenOne(r.Tag)
	Expect(ok).To(BeTrue(), "the request never reached the backend (%s)", r)
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		got := strings.Join(e.Header.Values(k), ", ")
		Expect(got).NotTo(Or(ContainSubstring("6.6.6.6"), ContainSubstring("spoofed.example"), ContainSubstring("gopher")),
			"the client's %s reached the backend: %q", k, got)
	}
})

var _ = Requirement("FWD-009", func(ctx SpecContext) {
	want := map[string]string{
		"Content-Type": "application/json; charset=utf-8", "Accept": "application/x-ndjson, */*;q=0.1",
		"User-Agent": "tollgate-conformance/1 (+custom)", "X-Request-Id": "req-0123456789", "Accept-Language": "de-CH",
	}
	opts := []Opt{H.Authed()}
	for k, v := range want {
		opts = append(opts, Header(k, v))
	}
	r := H.Do(ctx, "POST", "/api/show", strings.NewReader(`{"model":"llama3.2:1b"}`), opts...)
	e, ok := H.SeenOne(r.Tag)
	Expect(ok).To(BeTrue(), "the request never reached the backend (%s)", r)
	for k, v := range want {
		Expect(e.Header.Get(k)).To(Equal(v), "header %s at the backend", k)
	}
})

var _ = Requirement("FWD-010", func(ctx SpecContext) {
	cases := []struct {
		what, method, path, body string
		hdr                      []string
	}{
		{"unknown model", "POST", "/api/show", `{"model":"no-such-model:1b"}`, nil},
		{"malformed JSON", "POST", "/api/generate", `{"model":`, nil},
		{"a backend 500", "POST", "/api/generate", `{"model":"llama3.2:1b","stream":false}`, []string{"X-Mock-Status", "500"}},
		{"a backend 503", "GET", "/api/version", ``, []string{"X-Mock-Status", "503"}},
		{"an OpenAI-shaped 404", "POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, nil},
		{"an unknown route", "GET", "/api/does-not-exist", ``, nil},
	}
	for _, c := range cases {
		opts := []Opt{Header("Content-Type", "application/json")}
		if c.hdr != nil {
			opts = append(opts, Header(c.hdr[0], c.hdr[1]))
		}
		direct := H.Direct(ctx, c.method, c.path, c.body, opts...)
		via := H.Do(ctx, c.method, c.path, strings.NewReader(c.body), append(opts, H.Authed())...)
		Expect(via.Err).NotTo(HaveOccurred(), c.what)
		Expect(via.Status).To(Equal(direct.Status), "%s: status through the proxy vs. from the backend", c.what)
		Expect(via.Header.Get("Content-Type")).To(Equal(direct.Header.Get("Content-Type")), "%s: Content-Type", c.what)
		Expect(string(via.Body)).To(Equal(string(direct.Body)), "%s: body through the proxy vs. from the backend", c.what)
	}
})

// Direct sends a request straight to the mock, for side-by-side comparison.
func (h *Harness) Direct(ctx SpecContext, method, path, body string, opts ...Opt) Resp {
	req, err := http.NewRequestWithContext(ctx, method, h.Mock.URL+path, strings.NewReader(body))
	if err != nil {
		return Resp{Err: err}
	}
	for _, o := range opts {
		o(req)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return Resp{Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return Resp{Status: res.StatusCode, Header: res.Header, Body: b, Err: err}
}

// earlyGrace is how long the FWD-011 client holds back most of the body
// waiting for the answer to begin. A proxy that buffers the whole body before
// forwarding (nginx's default) never shows the answer early; after the grace
// the client sends the rest anyway, so buffering passes, only slower.
const earlyGrace = time.Second

var _ = Requirement("FWD-011", func(ctx SpecContext) {
	// Under net/http's 256 KiB post-handler drain limit, so a half-duplex Go
	// proxy drains and closes the body rather than giving up on reuse.
	body := blobBody(192 << 10)
	const held = 16 << 10
	pr, pw := io.Pipe()
	DeferCleanup(func() { pr.Close() }) // unblocks the writer if the answer dies
	begun := make(chan struct{})
	go func() {
		if _, err := pw.Write(body[:held]); err != nil {
			return
		}
		select {
		case <-begun:
		case <-time.After(earlyGrace):
		case <-ctx.Done():
		}
		// The rest in paced pieces: a half-duplex Go server's drain then
		// takes turns with the transport at reading them, so some never
		// reach the backend, however the goroutines are scheduled.
		rest, piece := body[held:], len(body[held:])/8
		for len(rest) > 0 {
			n := min(piece, len(rest))
			if _, err := pw.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
			time.Sleep(20 * time.Millisecond)
		}
		pw.Close()
	}()
	var once sync.Once
	s := H.Stream(ctx, "POST", "/api/blobs/sha256:"+sha(body), pr, func(Line) bool {
		once.Do(func() { close(begun) })
		return false
	}, H.Authed(), Header(mockollama.HeaderFault, "answer-early"), func(r *http.Request) { r.ContentLength = int64(len(body)) })
	Expect(s.Status).To(Equal(200), "the backend's early answer never reached the client (%v)", s.Err)
	lines := s.NonEmpty()
	Expect(s.Err).NotTo(HaveOccurred(), "the answer was cut after %d line(s): the proxy stopped forwarding the body once the answer began (a half-duplex Go server drains and closes it, golang/go#40747)", len(lines))
	Expect(lines).NotTo(BeEmpty(), "the answer was empty")
	var last struct {
		Status string `json:"status"`
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	}
	Expect(json.Unmarshal(lines[len(lines)-1].Data, &last)).To(Succeed(), "the backend's last line: %q", lines[len(lines)-1].Data)
	Expect(last.Status).To(Equal("received"), "the answer ended before the backend had the whole body: last line %q", lines[len(lines)-1].Data)
	Expect(last.Bytes).To(Equal(int64(len(body))), "bytes of the body the backend received after it began answering")
	Expect(last.SHA256).To(Equal(sha(body)), "sha256 of the body the backend received after it began answering")
})
