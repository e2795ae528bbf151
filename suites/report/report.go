// Package report turns per-requirement verdicts into what people and tools
// read: terminal lines, results.json, a Markdown summary. Every artifact goes
// through a redactor, so no token ever lands on disk.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Verdict is the outcome for one requirement.
type Verdict string

const (
	Pass  Verdict = "PASS"
	Fail  Verdict = "FAIL"  // the proxy violates a MUST (or a SHOULD under --strict)
	Warn  Verdict = "WARN"  // the proxy violates a SHOULD; not fatal without --strict
	Skip  Verdict = "SKIP"  // not applicable to this run, with a reason
	Error Verdict = "ERROR" // the harness could not judge: never blamed on the proxy
)

// Result is the verdict on one requirement.
type Result struct {
	ID       string        `json:"id"`
	Level    string        `json:"level"`
	Group    string        `json:"group"`
	Text     string        `json:"text"`
	Verdict  Verdict       `json:"verdict"`
	Duration time.Duration `json:"duration_ns"`
	Message  string        `json:"message,omitempty"` // failure detail (expected/actual) or skip reason
	Location string        `json:"location,omitempty"`
	// Wire holds the last exchanges of a failed requirement, redacted: what
	// was sent and what came back, to see the failure without re-running it.
	Wire []Exchange `json:"wire,omitempty"`
}

// Exchange is one request through the proxy as the harness saw it.
type Exchange struct {
	Request  string `json:"request"`             // request line and headers
	Response string `json:"response,omitempty"`  // status line and headers, or the transport error
	BodyHead string `json:"body_head,omitempty"` // the first bytes of the response body
}

// Meta describes the run.
type Meta struct {
	Tool           string            `json:"tool"`
	ToolVersion    string            `json:"tool_version"`
	CatalogVersion string            `json:"catalog_version"`
	Target         string            `json:"target"`
	Kind           string            `json:"kind"`
	Profile        string            `json:"profile"`
	Strict         bool              `json:"strict"`
	Seed           int64             `json:"seed"`
	Started        time.Time         `json:"started"`
	Duration       time.Duration     `json:"duration_ns"`
	Config         map[string]string `json:"config,omitempty"`
	SuiteError     string            `json:"suite_error,omitempty"`
}

// Summary counts verdicts and decides the exit code.
type Summary struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Warned  int `json:"warned"`
	Skipped int `json:"skipped"`
	Errored int `json:"errored"`
}

// Exit codes of a run.
const (
	ExitConformant    = 0
	ExitNonConformant = 1
	ExitHarness       = 2
)

// Summarize counts the verdicts.
func Summarize(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r.Verdict {
		case Pass:
			s.Passed++
		case Fail:
			s.Failed++
		case Warn:
			s.Warned++
		case Skip:
			s.Skipped++
		case Error:
			s.Errored++
		}
	}
	return s
}

// ExitCode: a harness error wins, since the proxy could not be judged.
func (s Summary) ExitCode() int {
	switch {
	case s.Errored > 0:
		return ExitHarness
	case s.Failed > 0:
		return ExitNonConformant
	}
	return ExitConformant
}

// Line writes the terminal line for one requirement.
func Line(w io.Writer, r Result) {
	fmt.Fprintf(w, "%-5s %-9s %-6s %7s  %s\n", r.Verdict, r.ID, r.Level, round(r.Duration), shorten(r.Text, 90))
}

// Closing writes the failures again, with their detail, then the count line.
func Closing(w io.Writer, rs []Result) {
	var bad []Result
	for _, r := range rs {
		if r.Verdict == Fail || r.Verdict == Warn || r.Verdict == Error {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "\n%d requirement(s) not met:\n", len(bad))
	}
	for _, r := range bad {
		fmt.Fprintf(w, "\n%s %s [%s] %s\n  %s\n", r.Verdict, r.ID, r.Level, r.Text, indent(r.Message))
		if r.Location != "" {
			fmt.Fprintf(w, "  at %s\n", r.Location)
		}
	}
	s := Summarize(rs)
	fmt.Fprintf(w, "\nconformance: %d passed, %d failed, %d skipped\n", s.Passed, s.Failed, s.Skipped)
	if s.Warned > 0 || s.Errored > 0 {
		fmt.Fprintf(w, "(%d SHOULD warnings, %d harness errors)\n", s.Warned, s.Errored)
	}
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func indent(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}
