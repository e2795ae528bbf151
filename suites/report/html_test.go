package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

const seededSecret = "tg-SECRET-0123456789abcdef"

func sampleRun() (Meta, []Result) {
	m := Meta{
		Tool: "tollgate", ToolVersion: "v0.0.0-test", CatalogVersion: "1", Target: "exec: ./proxy --token " + seededSecret,
		Kind: "exec", Profile: "health-exempt", Seed: 42, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Duration: 3 * time.Second, Config: map[string]string{"exec": "./proxy --token " + seededSecret, "profile": "health-exempt"},
	}
	rs := []Result{
		{ID: "AUTH-001", Level: "MUST", Group: "auth", Text: "No token MUST get 401.", Verdict: Pass, Duration: 12 * time.Millisecond},
		{ID: "AUTH-002", Level: "MUST", Group: "auth", Text: "A wrong token MUST get 401 & <never> reach the backend.", Verdict: Fail,
			Duration: 40 * time.Millisecond, Message: "Expected\n    <int>: 200\nto equal\n    <int>: 401\nbackend saw Authorization: Bearer " + seededSecret + "\n</pre><script>alert(1)</script>",
			Location: "spec_auth.go:42"},
		{ID: "AUTH-012", Level: "SHOULD", Group: "auth", Text: `401 SHOULD carry "WWW-Authenticate".`, Verdict: Warn, Duration: time.Millisecond, Message: "no WWW-Authenticate header"},
		{ID: "TOKF-001", Level: "MUST", Group: "token-file", Text: "token file", Verdict: Skip, Message: "the target does not declare token-file"},
	}
	return m, rs
}

func TestOverallOf(t *testing.T) {
	m, rs := sampleRun()
	cases := []struct {
		rs    []Result
		err   string
		class string
		exit  int
	}{
		{rs, "", "fail", 1},
		{rs[:1], "", "pass", 0},
		{[]Result{rs[0], rs[2]}, "", "warn", 0},
		{append([]Result{{ID: "X", Verdict: Error}}, rs...), "", "error", 2},
		{rs[:1], "target did not start", "error", 2},
		{nil, "", "pass", 0},
	}
	for i, c := range cases {
		m.SuiteError = c.err
		o := OverallOf(m, c.rs)
		if o.Class != c.class || o.Exit != c.exit {
			t.Errorf("case %d: got %+v, want class %s exit %d", i, o, c.class, c.exit)
		}
		if s := Summarize(c.rs).ExitCode(); c.err == "" && s != o.Exit {
			t.Errorf("case %d: OverallOf exit %d disagrees with Summary.ExitCode %d", i, o.Exit, s)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	m, rs := sampleRun()
	p := filepath.Join(t.TempDir(), "report.html")
	if err := WriteHTML(p, m, rs, NewRedactor(seededSecret)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	checkHTML(t, b)
	checkXML(t, b)
	for _, want := range []string{
		"NOT conformant", "AUTH-001", "AUTH-002", "AUTH-012", "TOKF-001", "12ms", "40ms",
		"the target does not declare token-file", "spec_auth.go:42",
		"A wrong token MUST get 401 &amp; &lt;never&gt; reach the backend.",
		"&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
		"[REDACTED]", "exit status 1", "health-exempt", "2026-01-02T03:04:05Z",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("a result message became markup")
	}
	if strings.Contains(page, seededSecret) {
		t.Error("the token reached report.html")
	}
}

// checkHTML tokenizes as HTML: elements balance, nothing is loaded from elsewhere.
func checkHTML(t *testing.T, b []byte) {
	t.Helper()
	if _, err := html.Parse(bytes.NewReader(b)); err != nil {
		t.Fatalf("html.Parse: %v", err)
	}
	void := map[string]bool{"meta": true, "br": true, "link": true, "img": true, "hr": true, "input": true}
	var stack []string
	z := html.NewTokenizer(bytes.NewReader(b))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken:
			if tok.Data == "script" || tok.Data == "link" || tok.Data == "img" || tok.Data == "iframe" {
				t.Errorf("<%s> in a self-contained report", tok.Data)
			}
			for _, a := range tok.Attr {
				if a.Key == "src" || (a.Key == "href" && !strings.HasPrefix(a.Val, "#")) {
					t.Errorf("external resource %s=%q", a.Key, a.Val)
				}
			}
			if !void[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("</%s> does not close %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
		case html.TextToken:
			if strings.Contains(tok.Data, "url(http") || strings.Contains(tok.Data, "@import") {
				t.Errorf("external resource in inline text: %q", tok.Data)
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
}

// checkXML parses strictly as XML: the page is XHTML-compatible.
func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
}

func TestWriteHTMLHarnessError(t *testing.T) {
	m, _ := sampleRun()
	m.SuiteError = "target did not start: exit 1; it printed: token " + seededSecret
	p := filepath.Join(t.TempDir(), "r.html")
	if err := WriteHTML(p, m, nil, NewRedactor(seededSecret)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	checkHTML(t, b)
	checkXML(t, b)
	if !strings.Contains(string(b), "not judged (harness error)") || !strings.Contains(string(b), "Harness error") {
		t.Errorf("harness error not shown:\n%s", b)
	}
	if strings.Contains(string(b), seededSecret) {
		t.Error("token in report")
	}
}

func TestBadge(t *testing.T) {
	m, rs := sampleRun()
	many := func(n int, v Verdict) []Result {
		var out []Result
		for i := 0; i < n; i++ {
			out = append(out, Result{ID: "X", Verdict: v})
		}
		return out
	}
	cases := []struct {
		name     string
		rs       []Result
		strict   bool
		suiteErr string
		msg      string
		color    string
	}{
		{"pass", append(many(86, Pass), many(2, Skip)...), false, "", "health-exempt 86/86", "#4c1"},
		{"fail", append(many(86, Pass), many(2, Fail)...), false, "", "health-exempt 86/88", "#e05d44"},
		{"warn", append(many(86, Pass), many(2, Warn)...), false, "", "health-exempt 86/88", "#dfb317"},
		{"strict", many(3, Pass), true, "", "health-exempt strict 3/3", "#4c1"},
		{"error", append(many(3, Pass), many(1, Error)...), false, "", "health-exempt error", "#9f9f9f"},
		{"suite error", nil, false, "boom", "health-exempt error", "#9f9f9f"},
		{"sample", rs, false, "", "health-exempt 1/3", "#e05d44"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := m
			m.Strict, m.SuiteError = c.strict, c.suiteErr
			label, msg, color := BadgeText(m, c.rs)
			if label != "tollgate" || msg != c.msg || color != c.color {
				t.Fatalf("got %q %q %q, want tollgate %q %q", label, msg, color, c.msg, c.color)
			}
			p := filepath.Join(t.TempDir(), "badge.svg")
			if err := WriteBadge(p, m, c.rs, NewRedactor(seededSecret)); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			var svg struct {
				XMLName xml.Name
				Width   int    `xml:"width,attr"`
				Title   string `xml:"title"`
				Rects   []struct {
					Fill string `xml:"fill,attr"`
				} `xml:"g>rect"`
				Texts []string `xml:"g>text"`
			}
			d := xml.NewDecoder(bytes.NewReader(b))
			d.Strict = true
			if err := d.Decode(&svg); err != nil {
				t.Fatalf("badge is not well-formed XML: %v\n%s", err, b)
			}
			if svg.XMLName.Local != "svg" || svg.XMLName.Space != "http://www.w3.org/2000/svg" {
				t.Fatalf("root %v", svg.XMLName)
			}
			if svg.Title != "tollgate: "+c.msg {
				t.Errorf("title %q", svg.Title)
			}
			if len(svg.Rects) < 2 || svg.Rects[1].Fill != c.color {
				t.Errorf("message colour %+v, want %s", svg.Rects, c.color)
			}
			if len(svg.Texts) != 4 || svg.Texts[3] != c.msg {
				t.Errorf("texts %q", svg.Texts)
			}
			if svg.Width < 60+6*len(c.msg)/2 {
				t.Errorf("width %d too small for %q", svg.Width, c.msg)
			}
		})
	}
}

// TestNoTokenInAnyArtifact seeds the token in a result message, the target,
// the config and the suite error, writes every artifact the report package
// makes, and checks none of them holds it.
func TestNoTokenInAnyArtifact(t *testing.T) {
	m, rs := sampleRun()
	m.SuiteError = "proxy printed " + seededSecret
	dir := t.TempDir()
	red := NewRedactor(seededSecret)
	for name, write := range map[string]func(string, Meta, []Result, *Redactor) error{
		"results.json": WriteJSON, "summary.md": WriteMarkdown, "report.html": WriteHTML, "badge.svg": WriteBadge,
	} {
		if err := write(filepath.Join(dir, name), m, rs, red); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 4 {
		t.Fatalf("artifacts: %v %v", entries, err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(seededSecret)) {
			t.Errorf("%s holds the token", e.Name())
		}
	}
}
