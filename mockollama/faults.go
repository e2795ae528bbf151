package mockollama

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request headers that shape a response or inject a fault. Header names are
// case-insensitive; a header that is present overrides the mock's defaults
// (SetFaults) even when its value is zero.
const (
	HeaderTag         = "X-Tollgate-Tag"
	HeaderChunks      = "X-Mock-Chunks"
	HeaderInterval    = "X-Mock-Interval"
	HeaderHeaderDelay = "X-Mock-Header-Delay"
	HeaderFirstDelay  = "X-Mock-First-Delay"
	HeaderPauseAfter  = "X-Mock-Pause-After"
	HeaderPause       = "X-Mock-Pause"
	HeaderStatus      = "X-Mock-Status"
	HeaderFault       = "X-Mock-Fault"
	HeaderHuge        = "X-Mock-Huge"
	HeaderReadRate    = "X-Mock-Read-Rate"
)

// Limits that keep a typo from tying the mock up for ever.
const (
	maxChunks   = 1_000_000
	maxDelay    = time.Hour
	maxHuge     = 1 << 36 // 64 GiB
	maxFaultArg = 1_000_000
)

// Faults shapes responses and injects failures. Zero values mean "not set".
//
// A "chunk" is one flushed unit of a stream: one NDJSON line or one SSE event
// (the role event, the finish event, the usage event and "data: [DONE]" each
// count as one).
type Faults struct {
	Chunks      int           // content chunks per streamed response (X-Mock-Chunks)
	Interval    time.Duration // delay between chunks (X-Mock-Interval)
	HeaderDelay time.Duration // silence before status and headers (X-Mock-Header-Delay)
	FirstDelay  time.Duration // headers flushed, then silence before the first chunk (X-Mock-First-Delay)
	PauseAfter  int           // chunk after which to pause (X-Mock-Pause-After)
	Pause       time.Duration // length of that pause (X-Mock-Pause)
	Status      int           // answer this status with an error body (X-Mock-Status)
	Fault       string        // reset-after=N | close-after=N | hang | reset-before-headers | answer-early (X-Mock-Fault)
	HugeBytes   int64         // streamed response of about this many bytes (X-Mock-Huge)
	ReadRate    int64         // read the request body at most this many bytes/s (X-Mock-Read-Rate)
}

// fault kinds, parsed from Faults.Fault.
const (
	faultNone = iota
	faultResetAfter
	faultCloseAfter
	faultHang
	faultResetBeforeHeaders
	faultAnswerEarly
)

type faultSpec struct {
	kind int
	n    int
}

func parseFaultSpec(s string) (faultSpec, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "none":
		return faultSpec{}, nil
	case "hang":
		return faultSpec{kind: faultHang}, nil
	case "reset-before-headers":
		return faultSpec{kind: faultResetBeforeHeaders}, nil
	case "answer-early":
		return faultSpec{kind: faultAnswerEarly}, nil
	}
	name, arg, ok := strings.Cut(s, "=")
	var kind int
	switch name {
	case "reset-after":
		kind = faultResetAfter
	case "close-after":
		kind = faultCloseAfter
	default:
		return faultSpec{}, fmt.Errorf("unknown fault %q (want reset-after=N, close-after=N, hang, reset-before-headers or answer-early)", s)
	}
	if !ok {
		return faultSpec{}, fmt.Errorf("fault %q needs a chunk count, as in %s=3", s, name)
	}
	n, err := strconv.Atoi(strings.TrimSpace(arg))
	if err != nil || n < 0 || n > maxFaultArg {
		return faultSpec{}, fmt.Errorf("fault %q: %q is not a chunk count between 0 and %d", s, arg, maxFaultArg)
	}
	return faultSpec{kind: kind, n: n}, nil
}

// field bits: which fields a header set explicitly.
const (
	setChunks = 1 << iota
	setInterval
	setHeaderDelay
	setFirstDelay
	setPauseAfter
	setPause
	setStatus
	setFault
	setHuge
	setReadRate
)

// ParseFaults reads the X-Mock-* request headers. Absent headers leave their
// field zero. The error names the offending header.
func ParseFaults(h http.Header) (Faults, error) {
	f, _, err := parseFaultHeaders(h)
	return f, err
}

func parseFaultHeaders(h http.Header) (Faults, int, error) {
	var f Faults
	var mask int
	get := func(name string) (string, bool) {
		v := h.Values(name)
		if len(v) == 0 {
			return "", false
		}
		return strings.TrimSpace(v[0]), true
	}
	bad := func(name, v, want string) error {
		return fmt.Errorf("invalid %s header %q: want %s", name, v, want)
	}
	intField := func(name string, bit int, lo, hi int64, want string, dst func(int64)) error {
		v, ok := get(name)
		if !ok {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return bad(name, v, want)
		}
		dst(n)
		mask |= bit
		return nil
	}
	durField := func(name string, bit int, dst *time.Duration) error {
		v, ok := get(name)
		if !ok {
			return nil
		}
		d, err := parseDuration(v)
		if err != nil {
			return bad(name, v, "a duration such as 50ms or 3s, between 0 and 1h")
		}
		*dst = d
		mask |= bit
		return nil
	}
	errs := []error{
		intField(HeaderChunks, setChunks, 1, maxChunks, fmt.Sprintf("an integer between 1 and %d", maxChunks), func(n int64) { f.Chunks = int(n) }),
		durField(HeaderInterval, setInterval, &f.Interval),
		durField(HeaderHeaderDelay, setHeaderDelay, &f.HeaderDelay),
		durField(HeaderFirstDelay, setFirstDelay, &f.FirstDelay),
		intField(HeaderPauseAfter, setPauseAfter, 0, maxChunks, fmt.Sprintf("an integer between 0 and %d", maxChunks), func(n int64) { f.PauseAfter = int(n) }),
		durField(HeaderPause, setPause, &f.Pause),
		intField(HeaderStatus, setStatus, 200, 599, "an HTTP status between 200 and 599", func(n int64) { f.Status = int(n) }),
		intField(HeaderHuge, setHuge, 0, maxHuge, fmt.Sprintf("a byte count between 0 and %d", int64(maxHuge)), func(n int64) { f.HugeBytes = n }),
		intField(HeaderReadRate, setReadRate, 0, 1<<40, "bytes per second, 0 for unlimited", func(n int64) { f.ReadRate = n }),
	}
	for _, err := range errs {
		if err != nil {
			return Faults{}, 0, err
		}
	}
	if v, ok := get(HeaderFault); ok {
		if _, err := parseFaultSpec(v); err != nil {
			return Faults{}, 0, fmt.Errorf("invalid %s header: %v", HeaderFault, err)
		}
		f.Fault = v
		mask |= setFault
	}
	return f, mask, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 || d > maxDelay {
		return 0, fmt.Errorf("duration %s out of range [0, %s]", d, maxDelay)
	}
	return d, nil
}

// Validate reports the first field that is out of range or malformed.
func (f Faults) Validate() error {
	switch {
	case f.Chunks < 0 || f.Chunks > maxChunks:
		return fmt.Errorf("chunks %d out of range [0, %d]", f.Chunks, maxChunks)
	case f.PauseAfter < 0 || f.PauseAfter > maxChunks:
		return fmt.Errorf("pause_after %d out of range [0, %d]", f.PauseAfter, maxChunks)
	case f.Status != 0 && (f.Status < 200 || f.Status > 599):
		return fmt.Errorf("status %d out of range [200, 599]", f.Status)
	case f.HugeBytes < 0 || f.HugeBytes > maxHuge:
		return fmt.Errorf("huge_bytes %d out of range [0, %d]", f.HugeBytes, int64(maxHuge))
	case f.ReadRate < 0:
		return fmt.Errorf("read_rate %d is negative", f.ReadRate)
	}
	for name, d := range map[string]time.Duration{"interval": f.Interval, "header_delay": f.HeaderDelay, "first_delay": f.FirstDelay, "pause": f.Pause} {
		if d < 0 || d > maxDelay {
			return fmt.Errorf("%s %s out of range [0, %s]", name, d, maxDelay)
		}
	}
	if _, err := parseFaultSpec(f.Fault); err != nil {
		return err
	}
	return nil
}

// overlay returns base with every field named in mask taken from top.
func overlay(base, top Faults, mask int) Faults {
	if mask&setChunks != 0 {
		base.Chunks = top.Chunks
	}
	if mask&setInterval != 0 {
		base.Interval = top.Interval
	}
	if mask&setHeaderDelay != 0 {
		base.HeaderDelay = top.HeaderDelay
	}
	if mask&setFirstDelay != 0 {
		base.FirstDelay = top.FirstDelay
	}
	if mask&setPauseAfter != 0 {
		base.PauseAfter = top.PauseAfter
	}
	if mask&setPause != 0 {
		base.Pause = top.Pause
	}
	if mask&setStatus != 0 {
		base.Status = top.Status
	}
	if mask&setFault != 0 {
		base.Fault = top.Fault
	}
	if mask&setHuge != 0 {
		base.HugeBytes = top.HugeBytes
	}
	if mask&setReadRate != 0 {
		base.ReadRate = top.ReadRate
	}
	return base
}

// faultsJSON is the wire form of Faults: snake_case names, durations as
// strings such as "50ms".
type faultsJSON struct {
	Chunks      int    `json:"chunks,omitempty"`
	Interval    string `json:"interval,omitempty"`
	HeaderDelay string `json:"header_delay,omitempty"`
	FirstDelay  string `json:"first_delay,omitempty"`
	PauseAfter  int    `json:"pause_after,omitempty"`
	Pause       string `json:"pause,omitempty"`
	Status      int    `json:"status,omitempty"`
	Fault       string `json:"fault,omitempty"`
	HugeBytes   int64  `json:"huge_bytes,omitempty"`
	ReadRate    int64  `json:"read_rate,omitempty"`
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes durations as strings ("50ms") and omits unset fields.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Chunks: f.Chunks, Interval: durString(f.Interval), HeaderDelay: durString(f.HeaderDelay),
		FirstDelay: durString(f.FirstDelay), PauseAfter: f.PauseAfter, Pause: durString(f.Pause),
		Status: f.Status, Fault: f.Fault, HugeBytes: f.HugeBytes, ReadRate: f.ReadRate,
	})
}

// UnmarshalJSON reads the form MarshalJSON writes; unknown fields are errors.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	var out Faults
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"interval", j.Interval, &out.Interval}, {"header_delay", j.HeaderDelay, &out.HeaderDelay}, {"first_delay", j.FirstDelay, &out.FirstDelay}, {"pause", j.Pause, &out.Pause}} {
		if d.s == "" {
			continue
		}
		v, err := parseDuration(d.s)
		if err != nil {
			return fmt.Errorf("faults: %s: %q is not a duration such as 50ms", d.name, d.s)
		}
		*d.dst = v
	}
	out.Chunks, out.PauseAfter, out.Status, out.Fault, out.HugeBytes, out.ReadRate = j.Chunks, j.PauseAfter, j.Status, j.Fault, j.HugeBytes, j.ReadRate
	*f = out
	return nil
}
