package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Printer shows a run as it happens: one call per requirement, then one at
// the end.
type Printer interface {
	Result(Result)
	Done(rs []Result, suiteError string)
}

// Human prints a line per requirement and the closing summary; Quiet keeps
// only what was not met.
type Human struct {
	W     io.Writer
	Quiet bool
	mu    sync.Mutex
}

func (h *Human) Result(r Result) {
	if h.Quiet && (r.Verdict == Pass || r.Verdict == Skip) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	Line(h.W, r)
}

func (h *Human) Done(rs []Result, suiteError string) {
	Closing(h.W, rs)
	if suiteError != "" {
		fmt.Fprintf(h.W, "harness error: %s\n", suiteError)
	}
}

// JSONEvents streams one JSON object per line for tools: a "result" event
// per requirement, then a "summary" event with the counts and exit code.
type JSONEvents struct {
	W  io.Writer
	mu sync.Mutex
}

type resultEvent struct {
	Event string `json:"event"`
	Result
}

type summaryEvent struct {
	Event string `json:"event"`
	Summary
	Exit       int    `json:"exit_code"`
	SuiteError string `json:"suite_error,omitempty"`
}

func (j *JSONEvents) Result(r Result) { j.emit(resultEvent{Event: "result", Result: r}) }

func (j *JSONEvents) Done(rs []Result, suiteError string) {
	s := Summarize(rs)
	exit := s.ExitCode()
	if suiteError != "" {
		exit = ExitHarness
	}
	j.emit(summaryEvent{Event: "summary", Summary: s, Exit: exit, SuiteError: suiteError})
}

func (j *JSONEvents) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = j.W.Write(append(b, '\n'))
}
