package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ProbeBinary is tollgate-probe's path inside the probe image.
const ProbeBinary = "/tollgate-probe"

// ProbeResult is the JSON line tollgate-probe prints (cmd/tollgate-probe).
type ProbeResult struct {
	Probe     string `json:"probe"`
	OK        bool   `json:"ok"`
	Target    string `json:"target"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	ErrorKind string `json:"error_kind"`
	BodyHead  string `json:"body_head"`
	Bytes     int64  `json:"bytes"`
	Lines     int    `json:"lines"`
	Done      bool   `json:"ndjson_done"`
	Mode      string `json:"mode"`
	Type      string `json:"type"`
	UID       *int   `json:"uid"`
	GID       *int   `json:"gid"`
	Size      *int64 `json:"size"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

// Outcome is a short human description: "401", "connected",
// "connection refused", "mode 0600 uid 65532 gid 65532".
func (p ProbeResult) Outcome() string {
	switch {
	case p.Probe == "stat" && p.OK:
		s := "mode " + p.Mode
		if p.UID != nil && p.GID != nil {
			s += fmt.Sprintf(" uid %d gid %d", *p.UID, *p.GID)
		}
		return s
	case p.Probe == "dial" && p.OK:
		return "connected"
	case p.Status != 0 && p.Error == "":
		return fmt.Sprintf("%d", p.Status)
	case p.Status != 0:
		return fmt.Sprintf("%d then %s", p.Status, describeErr(p))
	default:
		return describeErr(p)
	}
}

func describeErr(p ProbeResult) string {
	switch p.ErrorKind {
	case "refused":
		return "connection refused"
	case "timeout":
		return "timed out"
	case "reset":
		return "connection reset"
	case "unreachable":
		return "host unreachable"
	case "dns":
		return "name not resolved"
	case "missing":
		return "no such file"
	}
	if p.Error != "" {
		return oneLine(p.Error)
	}
	return "failed"
}

// parseProbe finds the probe's JSON line in its stdout.
func parseProbe(stdout string) (ProbeResult, error) {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var r ProbeResult
		if err := json.Unmarshal([]byte(l), &r); err == nil && r.Probe != "" {
			return r, nil
		}
	}
	return ProbeResult{}, fmt.Errorf("probe printed no result: %q", clip(stdout, 200))
}

// Probe runs tollgate-probe with args in a running probe container.
func Probe(ctx context.Context, d Driver, probeID string, args ...string) (ProbeResult, error) {
	res, err := d.Exec(ctx, probeID, append([]string{ProbeBinary}, args...))
	if err != nil {
		return ProbeResult{}, fmt.Errorf("exec probe: %w", err)
	}
	if res.ExitCode != 0 {
		return ProbeResult{}, fmt.Errorf("probe exited %d: %s", res.ExitCode, oneLine(res.Stderr))
	}
	return parseProbe(res.Stdout)
}

// HTTPProbe describes an HTTP request made by tollgate-probe.
type HTTPProbe struct {
	URL     string
	Method  string
	Token   string // sent as "Authorization: Bearer <Token>" when set
	Data    string
	Timeout time.Duration
}

func (h HTTPProbe) args() []string {
	a := []string{"http", "--url", h.URL}
	if h.Method != "" {
		a = append(a, "--method", h.Method)
	}
	if h.Token != "" {
		a = append(a, "--header", "Authorization: Bearer "+h.Token)
	}
	if h.Data != "" {
		a = append(a, "--data", h.Data)
	}
	if h.Timeout > 0 {
		a = append(a, "--timeout", h.Timeout.String())
	}
	return a
}

// ProbeHTTP runs an HTTP probe in a running probe container.
func ProbeHTTP(ctx context.Context, d Driver, probeID string, h HTTPProbe) (ProbeResult, error) {
	return Probe(ctx, d, probeID, h.args()...)
}

// ProbeDial runs a TCP connect probe in a running probe container.
func ProbeDial(ctx context.Context, d Driver, probeID, addr string, timeout time.Duration) (ProbeResult, error) {
	return Probe(ctx, d, probeID, "dial", "--addr", addr, "--timeout", timeout.String())
}

// waitDial probes addr until it connects, the deadline passes, or alive
// reports the target gone.
func waitDial(ctx context.Context, d Driver, probeID, addr string, within time.Duration, alive func() error) error {
	deadline := time.Now().Add(within)
	var last ProbeResult
	for {
		r, err := ProbeDial(ctx, d, probeID, addr, time.Second)
		if err != nil {
			return err
		}
		if r.OK {
			return nil
		}
		last = r
		if alive != nil {
			if err := alive(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reachable after %s: %s", addr, within, last.Outcome())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
