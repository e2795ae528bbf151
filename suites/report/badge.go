package report

import (
	"bytes"
	"fmt"
	"html/template"
)

// Badge colours by overall verdict.
var badgeColors = map[string]string{
	"pass":  "#4c1",    // conformant
	"warn":  "#dfb317", // conformant, with SHOULD warnings
	"fail":  "#e05d44", // not conformant
	"error": "#9f9f9f", // not judged
}

// BadgeText returns the badge's two halves and colour: "tollgate",
// "<profile> passed/judged" (skipped requirements are not judged), or
// "<profile> error" when the harness could not judge the proxy.
func BadgeText(m Meta, rs []Result) (label, message, color string) {
	o := OverallOf(m, rs)
	s := Summarize(rs)
	profile := m.Profile
	if profile == "" {
		profile = "conformance"
	}
	if m.Strict {
		profile += " strict"
	}
	message = fmt.Sprintf("%s %d/%d", profile, s.Passed, len(rs)-s.Skipped)
	if o.Class == "error" {
		message = profile + " error"
	}
	return "tollgate", message, badgeColors[o.Class]
}

// textWidth approximates Verdana 11px advance widths, enough to size a badge.
func textWidth(s string) int {
	w := 0.0
	for _, r := range s {
		switch {
		case r == ' ' || r == 'i' || r == 'l' || r == 'j' || r == '.' || r == ',' || r == ':':
			w += 3.5
		case r == '/' || r == '-' || r == 't' || r == 'f' || r == 'r':
			w += 4.5
		case r == 'm' || r == 'w' || r == 'M' || r == 'W':
			w += 10
		case r >= 'A' && r <= 'Z':
			w += 7.5
		default:
			w += 6.6
		}
	}
	return int(w + 0.5)
}

type badge struct {
	Label, Message, Color       string
	LW, MW, W, LX, MX, LTL, MTL int
}

// WriteBadge writes an SVG badge "tollgate | <profile> 86/88", coloured by
// the run's verdict, for a README or a CI page.
func WriteBadge(path string, m Meta, rs []Result, red *Redactor) error {
	if red == nil {
		red = NewRedactor()
	}
	label, msg, color := BadgeText(m, rs)
	label, msg = red.String(label), red.String(msg)
	b := badge{Label: label, Message: msg, Color: color}
	b.LTL, b.MTL = textWidth(label), textWidth(msg)
	b.LW, b.MW = b.LTL+12, b.MTL+12
	b.W = b.LW + b.MW
	b.LX, b.MX = b.LW/2, b.LW+b.MW/2
	var out bytes.Buffer
	if err := badgeTmpl.Execute(&out, b); err != nil {
		return err
	}
	return writeFile(path, red.Bytes(out.Bytes()))
}

// html/template in a text context escapes for HTML, which is also valid XML.
var badgeTmpl = template.Must(template.New("badge").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="20" role="img" aria-label="{{.Label}}: {{.Message}}">
<title>{{.Label}}: {{.Message}}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{{.W}}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="{{.LW}}" height="20" fill="#555"/><rect x="{{.LW}}" width="{{.MW}}" height="20" fill="{{.Color}}"/><rect width="{{.W}}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="{{.LX}}" y="15" fill="#010101" fill-opacity=".3">{{.Label}}</text><text x="{{.LX}}" y="14">{{.Label}}</text>
<text x="{{.MX}}" y="15" fill="#010101" fill-opacity=".3">{{.Message}}</text><text x="{{.MX}}" y="14">{{.Message}}</text>
</g>
</svg>
`))
