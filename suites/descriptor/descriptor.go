// Package descriptor reads and validates a target descriptor (tollgate.yaml):
// the one file a third party commits so that `tollgate run -f tollgate.yaml`
// judges its proxy. Every error is one line naming the file, the line and the
// offending field.
package descriptor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Target kinds a descriptor may name.
const (
	KindBuiltin = "builtin"
	KindExec    = "exec"
	KindURL     = "url"
	KindImage   = "image"
)

// Profiles and capabilities, spelled as in suites/catalog (kept as strings
// here so the descriptor does not depend on the suites).
var (
	Profiles     = []string{"health-exempt", "strict-auth"}
	Capabilities = []string{"token-file", "supervisor"}
	Kinds        = []string{KindBuiltin, KindExec, KindURL, KindImage}
)

// Skip is one requirement (ID, group or label) left out on purpose.
type Skip struct {
	ID     string `yaml:"id"`
	Reason string `yaml:"reason"`
}

// Descriptor is a validated tollgate.yaml.
type Descriptor struct {
	Kind          string            `yaml:"kind"`
	Command       string            `yaml:"command"`        // exec: the proxy's command line
	Image         string            `yaml:"image"`          // image: a local container image
	URL           string            `yaml:"url"`            // url: where the running proxy answers
	TokenEnv      string            `yaml:"token_env"`      // url: name of the env var holding the token
	BackendListen string            `yaml:"backend_listen"` // url: where the proxy forwards (the mock listens there)
	Env           map[string]string `yaml:"env"`            // exec, image: added to the proxy's environment
	HostNetwork   bool              `yaml:"host_network"`   // image: judge the request-level requirements, a container per start on the host's network
	Capabilities  []string          `yaml:"capabilities"`
	Profile       string            `yaml:"profile"`
	Strict        *bool             `yaml:"strict"` // nil when the file does not say
	Skip          []Skip            `yaml:"skip"`
	Focus         []string          `yaml:"focus"`

	// Path is the file the descriptor was read from ("" when parsed from bytes);
	// Dir is its directory, where an exec command runs.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// fields lists the accepted keys, in documentation order.
var fields = []string{"kind", "command", "image", "url", "token_env", "backend_listen", "env",
	"host_network", "capabilities", "profile", "strict", "skip", "focus"}

// hints answer the likely mistakes behind an unknown field.
var hints = map[string]string{
	"token":         "never commit a token; name the environment variable that holds it with token_env",
	"capability":    "did you mean capabilities?",
	"exec":          "did you mean command (with kind: exec)?",
	"cmd":           "did you mean command?",
	"backend":       "did you mean backend_listen?",
	"environment":   "did you mean env?",
	"skips":         "did you mean skip?",
	"only":          "did you mean focus?",
	"strict_auth":   "did you mean profile: strict-auth?",
	"health":        "did you mean profile: health-exempt?",
	"token_file":    "did you mean capabilities: [token-file]?",
	"capabilites":   "did you mean capabilities?",
	"backendlisten": "did you mean backend_listen?",
}

// Error is a descriptor problem: one line, naming file, line and field.
type Error struct {
	File  string // "" when parsed from bytes
	Line  int    // 0 when unknown
	Field string // e.g. "skip[1].reason"; "" for the file as a whole
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("descriptor")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and validates a descriptor file.
func Load(path string) (*Descriptor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	d, err := Parse(b, path)
	if err != nil {
		return nil, err
	}
	d.Path = path
	if abs, err := filepath.Abs(filepath.Dir(path)); err == nil {
		d.Dir = abs
	} else {
		d.Dir = filepath.Dir(path)
	}
	return d, nil
}

// Parse decodes and validates a descriptor; name is used in errors.
func Parse(data []byte, name string) (*Descriptor, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "empty file: it needs at least kind (" + strings.Join(Kinds, ", ") + ")"}
		}
		return nil, &Error{File: name, Line: yamlLine(err), Msg: "not valid YAML: " + yamlMsg(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: name, Line: extra.Line, Msg: "more than one YAML document; a descriptor is exactly one"}
	}
	p := parser{file: name}
	d, err := p.descriptor(&doc)
	if err != nil {
		return nil, err
	}
	if err := d.validate(p.lines, name); err != nil {
		return nil, err
	}
	return d, nil
}

type parser struct {
	file  string
	lines map[string]int // field path -> line, for validation errors
}

func (p *parser) errf(n *yaml.Node, field, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) descriptor(doc *yaml.Node) (*Descriptor, error) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, p.errf(root, "", "empty file: it needs at least kind (%s)", strings.Join(Kinds, ", "))
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "", "the top level must be a mapping of fields (kind, command, ...), got %s", nodeKind(root))
	}
	p.lines = map[string]int{}
	d := &Descriptor{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if seen[key] {
			return nil, p.errf(k, key, "given twice")
		}
		seen[key] = true
		p.lines[key] = k.Line
		var err error
		switch key {
		case "kind":
			d.Kind, err = p.str(v, key)
		case "command":
			d.Command, err = p.str(v, key)
		case "image":
			d.Image, err = p.str(v, key)
		case "url":
			d.URL, err = p.str(v, key)
		case "token_env":
			d.TokenEnv, err = p.str(v, key)
		case "backend_listen":
			d.BackendListen, err = p.str(v, key)
		case "profile":
			d.Profile, err = p.str(v, key)
		case "strict":
			var b bool
			b, err = p.boolean(v, key)
			d.Strict = &b
		case "host_network":
			d.HostNetwork, err = p.boolean(v, key)
		case "env":
			d.Env, err = p.env(v)
		case "capabilities":
			d.Capabilities, err = p.strList(v, key)
		case "focus":
			d.Focus, err = p.strList(v, key)
		case "skip":
			d.Skip, err = p.skips(v)
		default:
			msg := fmt.Sprintf("unknown field (known: %s)", strings.Join(fields, ", "))
			if h, ok := hints[strings.ToLower(key)]; ok {
				msg = "unknown field: " + h
			}
			return nil, p.errf(k, key, "%s", msg)
		}
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (p *parser) boolean(v *yaml.Node, field string) (bool, error) {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&b) != nil {
		return false, p.errf(v, field, "must be true or false, got %s", describe(v))
	}
	return b, nil
}

func (p *parser) str(v *yaml.Node, field string) (string, error) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return "", p.errf(v, field, "must be a string, got %s", describe(v))
	}
	return v.Value, nil
}

func (p *parser) strList(v *yaml.Node, field string) ([]string, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, p.errf(v, field, "must be a list, e.g. [%s], got %s", exampleFor(field), describe(v))
	}
	out := make([]string, 0, len(v.Content))
	for i, it := range v.Content {
		s, err := p.str(it, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		p.lines[fmt.Sprintf("%s[%d]", field, i)] = it.Line
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) env(v *yaml.Node) (map[string]string, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.MappingNode {
		return nil, p.errf(v, "env", "must be a mapping of NAME: value, got %s", describe(v))
	}
	out := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		field := "env." + k.Value
		if _, dup := out[k.Value]; dup {
			return nil, p.errf(k, field, "given twice")
		}
		if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
			return nil, p.errf(val, field, "must be a string (quote numbers and booleans), got %s", describe(val))
		}
		p.lines[field] = k.Line
		out[k.Value] = val.Value
	}
	return out, nil
}

func (p *parser) skips(v *yaml.Node) ([]Skip, error) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, p.errf(v, "skip", "must be a list of {id, reason}, got %s", describe(v))
	}
	var out []Skip
	for i, it := range v.Content {
		field := fmt.Sprintf("skip[%d]", i)
		if it.Kind != yaml.MappingNode {
			return nil, p.errf(it, field, "must be {id: ..., reason: ...}, got %s (every skip needs a reason)", describe(it))
		}
		var s Skip
		seen := map[string]bool{}
		for j := 0; j+1 < len(it.Content); j += 2 {
			k, val := it.Content[j], it.Content[j+1]
			f := field + "." + k.Value
			if seen[k.Value] {
				return nil, p.errf(k, f, "given twice")
			}
			seen[k.Value] = true
			var err error
			switch k.Value {
			case "id":
				s.ID, err = p.str(val, f)
			case "reason":
				s.Reason, err = p.str(val, f)
			default:
				return nil, p.errf(k, f, "unknown field (known: id, reason)")
			}
			if err != nil {
				return nil, err
			}
		}
		p.lines[field] = it.Line
		out = append(out, s)
	}
	return out, nil
}

var (
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	selector = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)
)

// contractEnv is set by the harness on every launch; a descriptor may not.
var contractEnv = []string{"OLLAMA_PROXY_TOKEN", "OLLAMA_PROXY_PORT", "OLLAMA_BACKEND_PORT", "OLLAMA_PROXY_TOKEN_FILE"}

func (d *Descriptor) validate(lines map[string]int, file string) error {
	errAt := func(field, format string, args ...any) error {
		return &Error{File: file, Line: lines[field], Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch d.Kind {
	case "":
		return &Error{File: file, Field: "kind", Msg: "missing: say which target this is (" + strings.Join(Kinds, ", ") + ")"}
	case KindBuiltin, KindExec, KindURL, KindImage:
	default:
		return errAt("kind", "unknown kind %q (%s)", d.Kind, strings.Join(Kinds, ", "))
	}
	// Fields that belong to one kind only.
	only := []struct {
		field string
		set   bool
		kinds []string
	}{
		{"command", d.Command != "", []string{KindExec}},
		{"image", d.Image != "", []string{KindImage}},
		{"url", d.URL != "", []string{KindURL}},
		{"token_env", d.TokenEnv != "", []string{KindURL}},
		{"backend_listen", d.BackendListen != "", []string{KindURL}},
		{"env", d.Env != nil, []string{KindExec, KindImage}},
		{"host_network", d.HostNetwork, []string{KindImage}},
	}
	for _, o := range only {
		if o.set && !contains(o.kinds, d.Kind) {
			return errAt(o.field, "not used by kind %s (only by kind %s)", d.Kind, strings.Join(o.kinds, " or "))
		}
	}
	switch d.Kind {
	case KindExec:
		if strings.TrimSpace(d.Command) == "" {
			return errAt("kind", "kind exec needs command: the proxy's command line, e.g. command: ./my-proxy")
		}
	case KindImage:
		if strings.TrimSpace(d.Image) == "" {
			return errAt("kind", "kind image needs image: a locally built image, e.g. image: my-proxy:dev")
		}
		if strings.ContainsAny(d.Image, " \t\n") {
			return errAt("image", "%q is not an image reference (no spaces)", d.Image)
		}
	case KindURL:
		if d.URL == "" {
			return errAt("kind", "kind url needs url: where the running proxy answers, e.g. url: http://127.0.0.1:11435")
		}
		u, err := url.Parse(d.URL)
		if err != nil || u.Scheme != "http" || u.Host == "" || u.Port() == "" {
			return errAt("url", "must be http://host:port, got %q", d.URL)
		}
		if u.User != nil {
			return errAt("url", "must not carry credentials; name the token's environment variable with token_env")
		}
		if d.TokenEnv == "" {
			return errAt("kind", "kind url needs token_env: the name of the environment variable holding the running proxy's token")
		}
		if d.BackendListen == "" {
			return errAt("kind", "kind url needs backend_listen: host:port the proxy forwards to (the harness's mock listens there)")
		}
		if h, port, err := splitHostPort(d.BackendListen); err != nil || h == "" || port == "" {
			return errAt("backend_listen", "must be host:port, got %q", d.BackendListen)
		}
	}
	if d.TokenEnv != "" && !envName.MatchString(d.TokenEnv) {
		return errAt("token_env", "must be the name of an environment variable (letters, digits, _), not the token itself")
	}
	for _, k := range sortedKeys(d.Env) {
		f := "env." + k
		if !envName.MatchString(k) {
			return errAt(f, "%q is not an environment variable name (letters, digits, _)", k)
		}
		if contains(contractEnv, k) {
			return errAt(f, "set by the harness on every launch (the launch contract); remove it")
		}
	}
	for i, c := range d.Capabilities {
		if !contains(Capabilities, c) {
			return errAt(fmt.Sprintf("capabilities[%d]", i), "unknown capability %q (known: %s)", c, strings.Join(Capabilities, ", "))
		}
	}
	if d.Profile != "" && !contains(Profiles, d.Profile) {
		return errAt("profile", "unknown profile %q (%s)", d.Profile, strings.Join(Profiles, " or "))
	}
	for i, s := range d.Skip {
		f := fmt.Sprintf("skip[%d]", i)
		if s.ID == "" {
			return errAt(f, "needs id: a requirement ID, group or label")
		}
		if !selector.MatchString(s.ID) {
			return errAt(f, "id %q must be one requirement ID, group or label, not an expression", s.ID)
		}
		if strings.TrimSpace(s.Reason) == "" {
			return errAt(f, "skipping %s needs a reason: say why it does not apply", s.ID)
		}
	}
	for i, f := range d.Focus {
		if !selector.MatchString(f) {
			return errAt(fmt.Sprintf("focus[%d]", i), "%q must be one requirement ID, group or label, not an expression", f)
		}
	}
	return nil
}

// SkipIDs returns the IDs of the skip entries.
func (d *Descriptor) SkipIDs() []string {
	out := make([]string, 0, len(d.Skip))
	for _, s := range d.Skip {
		out = append(out, s.ID)
	}
	return out
}

func splitHostPort(s string) (string, string, error) {
	u, err := url.Parse("http://" + s)
	if err != nil {
		return "", "", err
	}
	if u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", "", errors.New("not host:port")
	}
	return u.Hostname(), u.Port(), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func exampleFor(field string) string {
	switch field {
	case "capabilities":
		return "token-file"
	}
	return "AUTH-001, streaming"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a scalar"
}

// describe says what a node is, for "must be X, got Y".
func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return nodeKind(n)
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!bool":
		return "the boolean " + n.Value
	case "!!int", "!!float":
		return "the number " + n.Value
	}
	return fmt.Sprintf("%q", n.Value)
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func yamlLine(err error) int {
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// yamlMsg is the parser's message on one line without its "yaml: line N:" prefix.
func yamlMsg(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = regexp.MustCompile(`^line \d+: `).ReplaceAllString(s, "")
	return strings.Join(strings.Fields(s), " ")
}
