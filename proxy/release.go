package proxy

import (
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// burstConns is how many simultaneous connections count as a burst worth
// giving memory back for once they are all gone.
const burstConns = 256

// memoryReleaser hands the memory of a burst of connections (a thousand
// idle streams waiting on a cold model, say) back to the OS once the last
// of them closes, instead of keeping it until the runtime's background
// scavenger gets round to it. It costs one GC, only when the proxy falls
// idle after a burst.
type memoryReleaser struct {
	mu      sync.Mutex
	open    int
	peak    int
	release func()
}

func newMemoryReleaser() *memoryReleaser {
	return &memoryReleaser{release: func() {
		// sync.Pool buffers (ours and net/http's) survive one collection in
		// the pools' victim cache: the first GC empties the pools, the
		// second (inside FreeOSMemory) frees them and returns the pages.
		runtime.GC()
		debug.FreeOSMemory()
	}}
}

// connState is an http.Server ConnState hook.
func (m *memoryReleaser) connState(_ net.Conn, s http.ConnState) {
	m.mu.Lock()
	switch s {
	case http.StateNew:
		m.open++
		m.peak = max(m.peak, m.open)
	case http.StateClosed, http.StateHijacked:
		m.open--
	}
	burstOver := m.open == 0 && m.peak >= burstConns
	if burstOver {
		m.peak = 0
	}
	m.mu.Unlock()
	if burstOver {
		// Off the connection's goroutine; a short pause lets the last
		// buffers become garbage first.
		time.AfterFunc(100*time.Millisecond, m.release)
	}
}
