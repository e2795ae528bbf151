package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// Backend connection pool sizing: enough idle keep-alive connections for 64+
// concurrent streams without redialling.
const (
	maxIdleConns        = 128
	maxIdleConnsPerHost = 128
	idleConnTimeout     = 90 * time.Second
	copyBufferSize      = 32 << 10

	// knownLengthFlushInterval bounds how long part of a response body of
	// known length may sit in the server's buffer (streams flush at once).
	knownLengthFlushInterval = 50 * time.Millisecond
)

// newTransport returns the backend transport: HTTP/1.1 only, no environment
// proxy, no transparent compression, a bounded dial and a bounded wait for
// response headers but no bound on how long a response body may stream.
func newTransport(cfg Config) *http.Transport {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy: nil, // never route loopback traffic through HTTP_PROXY
		DialContext: (&net.Dialer{
			Timeout:   DefaultDialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		Protocols:             protocols,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// smallBodyMax is the largest request body read in full before forwarding.
const smallBodyMax = 16 << 10

// bufferSmallBody reads a small request body of declared length into memory,
// and reports whether it did, so the transport sends the backend headers and
// body in one write instead of flushing the headers alone and then copying
// the body (one more write for the proxy, one more read for the backend, on
// every JSON request). Bodies that are large, of unknown length, or behind
// "Expect: 100-continue" stream as before. A failed read is replayed to the
// transport as it happened: the bytes received, then the error, so
// cancellation and errors are unchanged.
func bufferSmallBody(r *http.Request) bool {
	if r.ContentLength <= 0 || r.ContentLength > smallBodyMax || r.Body == nil || r.Body == http.NoBody || r.Header.Get("Expect") != "" {
		return false
	}
	b := make([]byte, r.ContentLength)
	n, err := io.ReadFull(r.Body, b)
	if err != nil {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b[:n]), errReader{err}))
		return false
	}
	r.Body = memBody{bytes.NewReader(b)}
	return true
}

// memBody is a request body bufferSmallBody read in full.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

// forwardBufferedBody gives the transport the in-memory body itself:
// ReverseProxy wraps every outgoing body in a type the transport cannot see
// through, which would make it flush the headers alone again.
func forwardBufferedBody(pr *httputil.ProxyRequest) {
	if mb, ok := pr.In.Body.(memBody); ok {
		pr.Out.Body = io.NopCloser(mb.Reader)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies with.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}}}
}

func (p *bufferPool) Get() []byte { return *p.pool.Get().(*[]byte) }

func (p *bufferPool) Put(b []byte) {
	if cap(b) < copyBufferSize {
		return
	}
	b = b[:copyBufferSize]
	p.pool.Put(&b)
}
