package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var sample = []Result{
	{ID: "AUTH-001", Level: "MUST", Verdict: Pass, Text: "a"},
	{ID: "AUTH-002", Level: "MUST", Verdict: Fail, Text: "b", Message: "Expected 401, got 200"},
	{ID: "STRC-001", Level: "MUST", Verdict: Skip, Text: "c", Message: "profile"},
	{ID: "AUTH-012", Level: "SHOULD", Verdict: Warn, Text: "d"},
}

func TestQuietPrintsOnlyWhatIsNotMet(t *testing.T) {
	var b bytes.Buffer
	p := &Human{W: &b, Quiet: true}
	for _, r := range sample {
		p.Result(r)
	}
	p.Done(sample, "")
	out := b.String()
	for _, id := range []string{"AUTH-002", "AUTH-012"} {
		if !strings.Contains(out, id) {
			t.Errorf("quiet output lacks %s:\n%s", id, out)
		}
	}
	if strings.Contains(out, "PASS  AUTH-001") || strings.Contains(out, "SKIP  STRC-001") {
		t.Errorf("quiet output shows passing or skipped lines:\n%s", out)
	}
	if !strings.Contains(out, "conformance: 1 passed, 1 failed, 1 skipped") {
		t.Errorf("no closing count line:\n%s", out)
	}
}

func TestJSONEventsAreOneObjectPerLine(t *testing.T) {
	var b bytes.Buffer
	p := &JSONEvents{W: &b}
	for _, r := range sample {
		p.Result(r)
	}
	p.Done(sample, "")
	sc := bufio.NewScanner(&b)
	var events []map[string]any
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		events = append(events, e)
	}
	if len(events) != len(sample)+1 {
		t.Fatalf("%d events, want %d", len(events), len(sample)+1)
	}
	last := events[len(events)-1]
	if last["event"] != "summary" || last["failed"] != float64(1) || last["exit_code"] != float64(ExitNonConformant) {
		t.Fatalf("summary event %v", last)
	}
	if events[1]["event"] != "result" || events[1]["id"] != "AUTH-002" || events[1]["verdict"] != "FAIL" {
		t.Fatalf("result event %v", events[1])
	}
}
