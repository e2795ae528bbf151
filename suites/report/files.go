package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Redactor replaces every secret with a marker.
type Redactor struct{ secrets []string }

// NewRedactor ignores empty and very short strings, which would shred text.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		r.Add(s)
	}
	return r
}

// Add registers one more secret.
func (r *Redactor) Add(s string) {
	s = strings.TrimSpace(s)
	if len(s) >= 6 {
		r.secrets = append(r.secrets, s)
	}
}

// String redacts s.
func (r *Redactor) String(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
	}
	return s
}

// Bytes redacts b.
func (r *Redactor) Bytes(b []byte) []byte { return []byte(r.String(string(b))) }

type resultsFile struct {
	Meta    Meta     `json:"meta"`
	Summary Summary  `json:"summary"`
	Exit    int      `json:"exit_code"`
	Results []Result `json:"results"`
	// Verdicts maps requirement ID to verdict, for tools that only need that.
	Verdicts map[string]Verdict `json:"verdicts"`
}

// WriteJSON writes results.json.
func WriteJSON(path string, m Meta, rs []Result, red *Redactor) error {
	s := Summarize(rs)
	f := resultsFile{Meta: m, Summary: s, Exit: s.ExitCode(), Results: rs, Verdicts: map[string]Verdict{}}
	if m.SuiteError != "" {
		f.Exit = ExitHarness
	}
	for _, r := range rs {
		f.Verdicts[r.ID] = r.Verdict
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, red.Bytes(append(b, '\n')))
}

// WriteMarkdown writes summary.md, fit for a CI step summary.
func WriteMarkdown(path string, m Meta, rs []Result, red *Redactor) error {
	s := Summarize(rs)
	var b strings.Builder
	verdict := "conformant"
	switch {
	case m.SuiteError != "" || s.Errored > 0:
		verdict = "not judged (harness error)"
	case s.Failed > 0:
		verdict = "NOT conformant"
	}
	fmt.Fprintf(&b, "# Tollgate conformance: %s\n\n", verdict)
	fmt.Fprintf(&b, "Target `%s`, profile `%s`, strict %v, catalogue %s, tollgate %s, seed %d.\n\n",
		m.Target, m.Profile, m.Strict, m.CatalogVersion, m.ToolVersion, m.Seed)
	fmt.Fprintf(&b, "**%d passed, %d failed, %d skipped**, %d SHOULD warnings, %d harness errors.\n\n",
		s.Passed, s.Failed, s.Skipped, s.Warned, s.Errored)
	if m.SuiteError != "" {
		fmt.Fprintf(&b, "Harness error: `%s`\n\n", m.SuiteError)
	}
	var bad []Result
	for _, r := range rs {
		if r.Verdict == Fail || r.Verdict == Warn || r.Verdict == Error {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		b.WriteString("## Not met\n\n| verdict | ID | level | requirement |\n|---|---|---|---|\n")
		for _, r := range bad {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Verdict, r.ID, r.Level, mdCell(r.Text))
		}
		b.WriteString("\n")
		for _, r := range bad {
			fmt.Fprintf(&b, "### %s\n\n%s\n\n```\n%s\n```\n\n", r.ID, r.Text, strings.TrimSpace(r.Message))
		}
	}
	b.WriteString("## All requirements\n\n| verdict | ID | level | time |\n|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Verdict, r.ID, r.Level, round(r.Duration))
	}
	return writeFile(path, red.Bytes([]byte(b.String())))
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// RedactFile rewrites a file produced by another tool (Ginkgo's JUnit).
func RedactFile(path string, red *Redactor) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, red.Bytes(b), 0o644)
}

// WriteAll writes every per-run artifact into dir: results.json, summary.md,
// report.html and badge.svg (JUnit comes from Ginkgo). It returns the first
// error after trying them all.
func WriteAll(dir string, m Meta, rs []Result, red *Redactor) error {
	var first error
	for _, w := range []struct {
		name  string
		write func(string, Meta, []Result, *Redactor) error
	}{
		{"results.json", WriteJSON}, {"summary.md", WriteMarkdown}, {"report.html", WriteHTML}, {"badge.svg", WriteBadge},
	} {
		if err := w.write(filepath.Join(dir, w.name), m, rs, red); err != nil && first == nil {
			first = fmt.Errorf("write %s: %w", w.name, err)
		}
	}
	return first
}
