package proxy

import (
	"net"
	"net/http"
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
