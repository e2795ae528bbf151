package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
	"github.com/tollgate-dev/tollgate/suites/report"
)

// TagHeader carries a per-request ID that the mock records, so a spec can ask
// exactly what the backend received for the request it sent.
const TagHeader = "X-Tollgate-Tag"

// Opt shapes an outgoing request.
type Opt func(*http.Request)

// Auth sets a raw Authorization value.
func Auth(v string) Opt { return func(r *http.Request) { r.Header.Set("Authorization", v) } }

// Bearer sets `Authorization: Bearer <t>`.
func Bearer(t string) Opt { return Auth("Bearer " + t) }

// Header adds a header (repeatable).
func Header(k, v string) Opt { return func(r *http.Request) { r.Header.Add(k, v) } }

// Host overrides the Host header the client sends.
func Host(v string) Opt { return func(r *http.Request) { r.Host = v } }

// Authed adds the run's valid token.
func (h *Harness) Authed() Opt { return Bearer(h.Token) }

// Resp is a fully read answer.
type Resp struct {
	Status int
	Header http.Header
	Body   []byte
	Tag    string
	Err    error // transport or read error; Status is 0 when nothing came back
}

func (r Resp) String() string {
	if r.Err != nil && r.Status == 0 {
		return "no response: " + r.Err.Error()
	}
	return fmt.Sprintf("%d %s", r.Status, clip(r.Body, 200))
}

func newTag() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Do sends a request through the proxy and reads the whole answer.
func (h *Harness) Do(ctx context.Context, method, path string, body io.Reader, opts ...Opt) Resp {
	req, tag, err := h.request(ctx, method, path, body, opts...)
	if err != nil {
		return Resp{Err: err, Tag: tag}
	}
	res, err := h.client.Do(req)
	if err != nil {
		recordExchange(report.Exchange{Request: describeRequest(req), Response: describeResponse(0, nil, err)})
		return Resp{Err: err, Tag: tag}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	recordExchange(report.Exchange{Request: describeRequest(req), Response: describeResponse(res.StatusCode, res.Header, err), BodyHead: bodyHead(b)})
	return Resp{Status: res.StatusCode, Header: res.Header, Body: b, Tag: tag, Err: err}
}

// Get is Do for a bodiless GET.
func (h *Harness) Get(ctx context.Context, path string, opts ...Opt) Resp {
	return h.Do(ctx, http.MethodGet, path, nil, opts...)
}

// PostJSON is Do for a JSON POST.
func (h *Harness) PostJSON(ctx context.Context, path, body string, opts ...Opt) Resp {
	opts = append([]Opt{Header("Content-Type", "application/json")}, opts...)
	return h.Do(ctx, http.MethodPost, path, strings.NewReader(body), opts...)
}

func (h *Harness) request(ctx context.Context, method, path string, body io.Reader, opts ...Opt) (*http.Request, string, error) {
	tag := newTag()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+h.Proxy.Addr()+path, body)
	if err != nil {
		return nil, tag, err
	}
	req.Header.Set(TagHeader, tag)
	for _, o := range opts {
		o(req)
	}
	return req, tag, nil
}

// Seen returns what the backend recorded for a tag (empty: it never arrived).
func (h *Harness) Seen(tag string) []mockollama.Entry { return h.Mock.Record().ByTag(tag) }

// SeenOne waits briefly for the single backend entry of a tag to finish.
func (h *Harness) SeenOne(tag string) (mockollama.Entry, bool) {
	return h.Mock.Record().WaitForTag(tag, 2*time.Second)
}

// RawResp is the answer to a hand-written request.
type RawResp struct {
	Status int
	Header http.Header
	Body   []byte
	Tag    string
	Err    error
}

// Raw sends a request written byte for byte: the request line, then extra
// header lines. It adds Host, the tag and Connection: close, because Go's
// client would normalise the very variants these specs probe.
func (h *Harness) Raw(ctx context.Context, requestLine string, headers ...string) RawResp {
	tag := newTag()
	var b bytes.Buffer
	b.WriteString(requestLine + "\r\n")
	b.WriteString("Host: " + h.Proxy.Addr() + "\r\n")
	for _, l := range headers {
		b.WriteString(l + "\r\n")
	}
	b.WriteString(TagHeader + ": " + tag + "\r\nConnection: close\r\n\r\n")
	return h.rawExchange(ctx, b.Bytes(), strings.SplitN(requestLine, " ", 2)[0], tag)
}

func (h *Harness) rawExchange(ctx context.Context, payload []byte, method, tag string) RawResp {
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", h.Proxy.Addr())
	if err != nil {
		return RawResp{Err: err, Tag: tag}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(payload); err != nil {
		return RawResp{Err: err, Tag: tag}
	}
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		recordExchange(report.Exchange{Request: rawHead(payload), Response: describeResponse(0, nil, err)})
		return RawResp{Err: err, Tag: tag}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	recordExchange(report.Exchange{Request: rawHead(payload), Response: describeResponse(res.StatusCode, res.Header, nil), BodyHead: bodyHead(body)})
	return RawResp{Status: res.StatusCode, Header: res.Header, Body: body, Tag: tag}
}

// clip shortens a body for a failure message.
func clip(b []byte, n int) string {
	s := string(b)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}
