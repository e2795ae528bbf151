package target

import "sync"

// maxOutput bounds what is kept of a proxy's output: enough for every check,
// never unbounded memory for a chatty proxy.
const maxOutput = 8 << 20

// outputBuffer is a concurrency-safe, capped io.Writer.
type outputBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (o *outputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := maxOutput - len(o.buf); room > 0 {
		if len(p) > room {
			o.buf = append(o.buf, p[:room]...)
		} else {
			o.buf = append(o.buf, p...)
		}
	}
	return len(p), nil
}

func (o *outputBuffer) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}
