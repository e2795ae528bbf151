package mockollama

import (
	"net/http"
	"slices"
	"sync"
	"time"
)

// bodyHeadSize is how much of each request body an Entry keeps.
const bodyHeadSize = 4 << 10

// Entry is what the mock saw of one request and what it sent back.
// An entry exists from the moment the request arrives; Finished stays zero
// while the request is in progress.
type Entry struct {
	Seq int    `json:"seq"`
	Tag string `json:"tag,omitempty"` // value of the X-Tollgate-Tag request header

	Method     string      `json:"method"`
	RequestURI string      `json:"request_uri"`
	Path       string      `json:"path"`
	RawQuery   string      `json:"raw_query,omitempty"`
	Host       string      `json:"host"`
	Proto      string      `json:"proto"`
	RemoteAddr string      `json:"remote_addr"`
	Header     http.Header `json:"header"` // as received

	BodySize   int64  `json:"body_size"`
	BodySHA256 string `json:"body_sha256"`
	BodyHead   []byte `json:"body_head,omitempty"` // first 4 KiB of the body

	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"` // zero while in progress

	Status         int    `json:"status"`
	BytesSent      int64  `json:"bytes_sent"`      // response body bytes
	ResponseSHA256 string `json:"response_sha256"` // of the response body bytes sent

	Cancelled   bool      `json:"cancelled"` // the client went away before the mock finished
	CancelledAt time.Time `json:"cancelled_at"`
}

func (e *Entry) clone() Entry {
	c := *e
	c.Header = e.Header.Clone()
	c.BodyHead = slices.Clone(e.BodyHead)
	return c
}

func (e *Entry) settled() bool { return !e.Finished.IsZero() || e.Cancelled }

// Record holds an Entry for every request the mock received since the last
// Reset. It is safe for concurrent use.
type Record struct {
	mu      sync.Mutex
	seq     int
	entries []*Entry
	changed chan struct{} // closed and replaced on every change
}

func newRecord() *Record { return &Record{changed: make(chan struct{})} }

// notifyLocked wakes every waiter; r.mu must be held.
func (r *Record) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// add appends e, numbering it; the pointer is updated later through update.
func (r *Record) add(e *Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	e.Seq = r.seq
	r.entries = append(r.entries, e)
	r.notifyLocked()
}

// update applies fn to e under the lock (e may have been dropped by Reset,
// in which case the change is invisible).
func (r *Record) update(e *Entry, fn func(*Entry)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(e)
	r.notifyLocked()
}

// All returns a copy of every entry, in arrival order.
func (r *Record) All() []Entry {
	return r.filter(func(*Entry) bool { return true })
}

// ByTag returns a copy of every entry whose X-Tollgate-Tag equals tag.
func (r *Record) ByTag(tag string) []Entry {
	return r.filter(func(e *Entry) bool { return e.Tag == tag })
}

func (r *Record) filter(keep func(*Entry) bool) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []Entry{}
	for _, e := range r.entries {
		if keep(e) {
			out = append(out, e.clone())
		}
	}
	return out
}

// Len is the number of entries.
func (r *Record) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// Reset forgets every entry. Sequence numbers keep increasing, so an entry
// recorded after a Reset never shares a Seq with one recorded before.
func (r *Record) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = nil
	r.notifyLocked()
}

// NeverSawHeader reports whether no entry carried the header name
// (case-insensitive), whatever its value.
func (r *Record) NeverSawHeader(name string) bool {
	key := http.CanonicalHeaderKey(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		if _, ok := e.Header[key]; ok {
			return false
		}
		// A header stored under a non-canonical key (hand-built requests).
		for k := range e.Header {
			if http.CanonicalHeaderKey(k) == key {
				return false
			}
		}
	}
	return true
}

// WaitForTag waits until an entry with tag exists and is Finished or
// Cancelled, and returns the first such entry. ok is false on timeout.
func (r *Record) WaitForTag(tag string, timeout time.Duration) (Entry, bool) {
	return r.wait(timeout, func(e *Entry) bool { return e.Tag == tag && e.settled() })
}

// WaitForCancel waits until the entry with tag is Cancelled. ok is false on
// timeout.
func (r *Record) WaitForCancel(tag string, timeout time.Duration) (Entry, bool) {
	return r.wait(timeout, func(e *Entry) bool { return e.Tag == tag && e.Cancelled })
}

func (r *Record) wait(timeout time.Duration, match func(*Entry) bool) (Entry, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		for _, e := range r.entries {
			if match(e) {
				c := e.clone()
				r.mu.Unlock()
				return c, true
			}
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return Entry{}, false
		}
	}
}
