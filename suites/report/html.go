package report

import (
	"bytes"
	"html/template"
	"sort"
	"strings"
	"time"
)

// Overall is the run's verdict in words, as summary.md, report.html and the
// badge say it.
type Overall struct {
	Word  string // "conformant", "conformant with warnings", "NOT conformant", "not judged (harness error)"
	Class string // pass, warn, fail, error: the colour
	Exit  int
}

// OverallOf decides the run's verdict from its results and suite error.
func OverallOf(m Meta, rs []Result) Overall {
	s := Summarize(rs)
	switch {
	case m.SuiteError != "" || s.Errored > 0:
		return Overall{"not judged (harness error)", "error", ExitHarness}
	case s.Failed > 0:
		return Overall{"NOT conformant", "fail", ExitNonConformant}
	case s.Warned > 0:
		return Overall{"conformant with warnings", "warn", ExitConformant}
	}
	return Overall{"conformant", "pass", ExitConformant}
}

type htmlRow struct {
	Result
	Class, Time string
}

type htmlPage struct {
	Meta              Meta
	Overall           Overall
	Summary           Summary
	Total             int
	Started, Duration string
	Config            [][2]string
	Bad, All          []htmlRow
	Generated         string
}

// WriteHTML writes one self-contained HTML page (inline CSS, no scripts, no
// external resources) with every requirement's verdict, timing and detail.
// It is also well-formed XML, so any XML tool can read it. Text is escaped by
// html/template and redacted before and after rendering.
func WriteHTML(path string, m Meta, rs []Result, red *Redactor) error {
	if red == nil {
		red = NewRedactor()
	}
	m = redactMeta(m, red)
	p := htmlPage{
		Meta: m, Overall: OverallOf(m, rs), Summary: Summarize(rs), Total: len(rs),
		Duration: round(m.Duration), Generated: "tollgate " + m.ToolVersion,
	}
	if !m.Started.IsZero() {
		p.Started = m.Started.UTC().Format(time.RFC3339)
	}
	keys := make([]string, 0, len(m.Config))
	for k := range m.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Config = append(p.Config, [2]string{k, m.Config[k]})
	}
	for _, r := range rs {
		r.Text, r.Message, r.Location = red.String(r.Text), red.String(strings.TrimSpace(r.Message)), red.String(r.Location)
		wire := make([]Exchange, len(r.Wire))
		for i, e := range r.Wire {
			wire[i] = Exchange{Request: red.String(e.Request), Response: red.String(e.Response), BodyHead: red.String(e.BodyHead)}
		}
		r.Wire = wire
		row := htmlRow{Result: r, Class: verdictClass(r.Verdict), Time: round(r.Duration)}
		p.All = append(p.All, row)
		if r.Verdict == Fail || r.Verdict == Warn || r.Verdict == Error {
			p.Bad = append(p.Bad, row)
		}
	}
	var b bytes.Buffer
	if err := htmlTmpl.Execute(&b, p); err != nil {
		return err
	}
	return writeFile(path, red.Bytes(b.Bytes()))
}

func redactMeta(m Meta, red *Redactor) Meta {
	m.Target, m.SuiteError = red.String(m.Target), red.String(m.SuiteError)
	if m.Config != nil {
		c := make(map[string]string, len(m.Config))
		for k, v := range m.Config {
			c[red.String(k)] = red.String(v)
		}
		m.Config = c
	}
	return m
}

func verdictClass(v Verdict) string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Warn:
		return "warn"
	case Error:
		return "error"
	}
	return "skip"
}

// The page avoids '&', '<' and '>' in its CSS and closes every element, so
// the output is XHTML-compatible as well as HTML.
var htmlTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Tollgate conformance: {{.Overall.Word}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #1f2328; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3em .6em; border-bottom: 1px solid #eaeef2; }
th { background: #f6f8fa; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
pre { background: #f6f8fa; padding: .6em .8em; overflow-x: auto; white-space: pre-wrap; margin: .3em 0; }
.v { font-weight: 600; white-space: nowrap; }
.pass { color: #1a7f37; } .fail { color: #cf222e; } .warn { color: #9a6700; } .error { color: #8250df; } .skip { color: #6e7781; }
.banner { display: inline-block; padding: .2em .7em; border-radius: .3em; color: #fff; font-weight: 600; }
.banner.pass { background: #1a7f37; } .banner.fail { background: #cf222e; } .banner.warn { background: #9a6700; } .banner.error { background: #8250df; }
.counts span { margin-right: 1.2em; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
.detail h3 { font-size: 1em; margin: 1.2em 0 .2em; }
.muted { color: #6e7781; }
</style>
</head>
<body>
<h1>Tollgate conformance <span class="banner {{.Overall.Class}}">{{.Overall.Word}}</span></h1>
<p class="counts"><span class="pass">{{.Summary.Passed}} passed</span><span class="fail">{{.Summary.Failed}} failed</span><span class="warn">{{.Summary.Warned}} SHOULD warnings</span><span class="skip">{{.Summary.Skipped}} skipped</span><span class="error">{{.Summary.Errored}} harness errors</span><span class="muted">{{.Total}} requirements, exit status {{.Overall.Exit}}</span></p>
<dl class="meta">
<dt>target</dt><dd><code>{{.Meta.Target}}</code> ({{.Meta.Kind}})</dd>
<dt>profile</dt><dd>{{.Meta.Profile}}{{if .Meta.Strict}}, strict (SHOULD failures fail){{end}}</dd>
<dt>catalogue</dt><dd>{{.Meta.CatalogVersion}}</dd>
<dt>tool</dt><dd>{{.Meta.Tool}} {{.Meta.ToolVersion}}</dd>
<dt>seed</dt><dd>{{.Meta.Seed}}</dd>
{{- if .Started}}
<dt>started</dt><dd>{{.Started}}</dd>
{{- end}}
<dt>duration</dt><dd>{{.Duration}}</dd>
{{- range .Config}}
<dt>config {{index . 0}}</dt><dd><code>{{index . 1}}</code></dd>
{{- end}}
</dl>
{{- if .Meta.SuiteError}}
<h2 class="error">Harness error</h2>
<pre>{{.Meta.SuiteError}}</pre>
{{- end}}
{{- if .Bad}}
<h2>Not met</h2>
<div class="detail">
{{- range .Bad}}
<h3 id="{{.ID}}"><span class="v {{.Class}}">{{.Verdict}}</span> {{.ID}} <span class="muted">[{{.Level}}, {{.Group}}, {{.Time}}]</span></h3>
<p>{{.Text}}</p>
<pre>{{.Message}}</pre>
{{- if .Location}}
<p class="muted">at <code>{{.Location}}</code></p>
{{- end}}
{{- range .Wire}}
<details><summary>wire exchange</summary>
<pre>{{.Request}}</pre>
<pre>{{.Response}}</pre>
{{- if .BodyHead}}
<pre>{{.BodyHead}}</pre>
{{- end}}
</details>
{{- end}}
{{- end}}
</div>
{{- end}}
<h2>All requirements</h2>
<table>
<thead><tr><th>verdict</th><th>ID</th><th>level</th><th>group</th><th>time</th><th>requirement</th></tr></thead>
<tbody>
{{- range .All}}
<tr><td class="v {{.Class}}">{{.Verdict}}</td><td><code>{{.ID}}</code></td><td>{{.Level}}</td><td>{{.Group}}</td><td class="num">{{.Time}}</td><td>{{.Text}}{{if and .Message (eq .Class "skip")}}<br/><span class="muted">{{.Message}}</span>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
<p class="muted">Generated by {{.Generated}}. Verdicts: PASS; FAIL (a MUST, or a SHOULD under strict); WARN (a SHOULD, not fatal); SKIP (not applicable, with the reason); ERROR (the harness could not judge; never blamed on the proxy).</p>
</body>
</html>
`))
