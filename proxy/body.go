package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// errHandlerDone is what the transport reads from a request body once the
// handler has returned.
var errHandlerDone = errors.New("request already answered")

// streamedBody is a request body the transport streams to the backend while
// the answer may already flow back (full duplex). It guards net/http's body
// in two ways:
//   - it ends at the declared length without reading further, so the
//     transport's end-of-body check never lands on net/http's body after the
//     answer began (that read failing tears the backend connection down,
//     golang/go#40747);
//   - once the handler has returned it reads nothing: net/http owns the
//     connection again, and a late read racing its own panics inside
//     net/http and drops the client's keep-alive connection unannounced.
type streamedBody struct {
	mu   sync.Mutex // held during a read, so finish can wait it out
	r    io.Reader
	left int64 // declared bytes still to come; -1 when unknown (chunked)
	done bool
}

func newStreamedBody(r io.Reader, length int64) *streamedBody {
	if length < 0 {
		length = -1
	}
	return &streamedBody{r: r, left: length}
}

func (b *streamedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.done:
		return 0, errHandlerDone
	case b.left == 0:
		return 0, io.EOF
	case b.left > 0 && int64(len(p)) > b.left:
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	if b.left > 0 {
		b.left -= int64(n)
		if b.left == 0 && err == nil {
			err = io.EOF
		}
	}
	return n, err
}

// Close leaves net/http's body to net/http, which closes it after the handler.
func (b *streamedBody) Close() error { return nil }

// finish ends the body's use once the handler is done. A read still blocked
// on the client (the backend answered without wanting the rest) is cut by a
// read deadline; net/http then closes that connection, as it must with a
// body left half-sent.
func (b *streamedBody) finish(rc *http.ResponseController) {
	if !b.mu.TryLock() {
		_ = rc.SetReadDeadline(time.Now())
		b.mu.Lock()
	}
	b.done = true
	b.mu.Unlock()
}
