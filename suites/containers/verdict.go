package containers

import (
	"fmt"
	"strings"
	"time"
)

// Requirement IDs of the container checks (declared in suites/catalog/network.go).
const (
	ReqHostProxyReachable  = "NET-001" // proxy port reachable from a container via host-gateway: 401 / 200
	ReqHostBackendIsolated = "NET-002" // backend port unreachable from containers (CWE-668)
	ReqPeerReachability    = "NET-003" // container topology: 11435 reachable from a peer, 11434 not
	ReqTokenFileMode       = "NET-004" // token file in the volume is 0600 as seen through Docker
	ReqRestartInContainers = "NET-005" // stop: port closed; start: old token works, a stream completes
)

// Verdict is the outcome of one check. A check either judged the proxy
// (Pass true or false, with Expected and Actual), could not judge it
// (HarnessError: a harness or environment problem, never a proxy failure;
// callers exit 2), or did not apply (Skipped says why).
type Verdict struct {
	ID           string        `json:"id"`
	Pass         bool          `json:"pass"`
	Expected     string        `json:"expected"`
	Actual       string        `json:"actual"`
	HarnessError string        `json:"harness_error,omitempty"`
	Skipped      string        `json:"skipped,omitempty"`
	Driver       string        `json:"driver,omitempty"`
	Duration     time.Duration `json:"duration"`
}

// Failed reports a judged failure: the proxy did not conform.
func (v Verdict) Failed() bool { return !v.Pass && v.HarnessError == "" && v.Skipped == "" }

// String is the one-line report: "NET-001 PASS (1.2s)", with expected and
// actual on failure.
func (v Verdict) String() string {
	d := v.Duration.Round(10 * time.Millisecond)
	switch {
	case v.HarnessError != "":
		return fmt.Sprintf("%s ERROR (%s): %s", v.ID, d, v.HarnessError)
	case v.Skipped != "":
		return fmt.Sprintf("%s SKIP: %s", v.ID, v.Skipped)
	case v.Pass:
		return fmt.Sprintf("%s PASS (%s)", v.ID, d)
	default:
		return fmt.Sprintf("%s FAIL (%s): expected %s; actual %s", v.ID, d, v.Expected, v.Actual)
	}
}

// check accumulates a verdict.
type check struct {
	v     Verdict
	start time.Time
	parts []string
	fail  bool
}

func newCheck(id, driver, expected string) *check {
	return &check{v: Verdict{ID: id, Driver: driver, Expected: expected}, start: time.Now()}
}

// observe records one observation and whether it met the expectation.
func (c *check) observe(ok bool, format string, args ...any) {
	c.parts = append(c.parts, fmt.Sprintf(format, args...))
	if !ok {
		c.fail = true
	}
}

// harness ends the check as a harness error.
func (c *check) harness(format string, args ...any) Verdict {
	c.v.HarnessError = oneLine(fmt.Sprintf(format, args...))
	return c.done()
}

// skip ends the check as not applicable.
func (c *check) skip(reason string) Verdict {
	c.v.Skipped = reason
	return c.done()
}

func (c *check) done() Verdict {
	c.v.Duration = time.Since(c.start)
	c.v.Actual = strings.Join(c.parts, "; ")
	c.v.Pass = !c.fail && c.v.HarnessError == "" && c.v.Skipped == "" && len(c.parts) > 0
	return c.v
}
