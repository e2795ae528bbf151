package descriptor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	yes := true
	cases := []struct {
		name, in string
		want     Descriptor
	}{
		{"builtin", "kind: builtin\n", Descriptor{Kind: "builtin"}},
		{"exec full", `kind: exec
command: python3 proxy.py --flag
env:
  LOG_LEVEL: debug
  PORT_HINT: "8080"
capabilities: [token-file]
profile: strict-auth
strict: true
skip:
  - id: FWD-008
    reason: a load balancer in front sets X-Forwarded-For
focus: [auth, STRM-001, MUST]
`, Descriptor{Kind: "exec", Command: "python3 proxy.py --flag",
			Env:          map[string]string{"LOG_LEVEL": "debug", "PORT_HINT": "8080"},
			Capabilities: []string{"token-file"}, Profile: "strict-auth", Strict: &yes,
			Skip:  []Skip{{ID: "FWD-008", Reason: "a load balancer in front sets X-Forwarded-For"}},
			Focus: []string{"auth", "STRM-001", "MUST"}}},
		{"url", "kind: url\nurl: http://127.0.0.1:11435\ntoken_env: PROXY_TOKEN\nbackend_listen: 127.0.0.1:11434\n",
			Descriptor{Kind: "url", URL: "http://127.0.0.1:11435", TokenEnv: "PROXY_TOKEN", BackendListen: "127.0.0.1:11434"}},
		{"image", "kind: image\nimage: my-proxy:dev\nenv: {A: b}\nhost_network: true\n",
			Descriptor{Kind: "image", Image: "my-proxy:dev", Env: map[string]string{"A": "b"}, HostNetwork: true}},
		{"empty lists", "kind: exec\ncommand: ./p\ncapabilities: []\nskip: []\nfocus:\n",
			Descriptor{Kind: "exec", Command: "./p", Capabilities: []string{}}},
		{"supervisor", "kind: exec\ncommand: ./p\ncapabilities: [token-file, supervisor]\n",
			Descriptor{Kind: "exec", Command: "./p", Capabilities: []string{"token-file", "supervisor"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.in), "tollgate.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*d, c.want) {
				t.Fatalf("got  %+v\nwant %+v", *d, c.want)
			}
		})
	}
}

// TestErrors: every rejection is one line naming the file, line and field.
func TestErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // exact error
	}{
		{"empty", "", `tollgate.yaml: empty file: it needs at least kind (builtin, exec, url, image)`},
		{"only comments", "# nothing\n", `tollgate.yaml: empty file: it needs at least kind (builtin, exec, url, image)`},
		{"null doc", "~\n", `tollgate.yaml:1: empty file: it needs at least kind (builtin, exec, url, image)`},
		{"bad yaml", "kind: exec\n  command: [\n", `tollgate.yaml:2: not valid YAML: mapping values are not allowed in this context`},
		{"tabs", "kind: exec\n\tcommand: x\n", `tollgate.yaml:2: not valid YAML: found a tab character that violates indentation`},
		{"two documents", "kind: builtin\n---\nkind: exec\n", `tollgate.yaml:2: more than one YAML document; a descriptor is exactly one`},
		{"top list", "- kind: exec\n", `tollgate.yaml:1: the top level must be a mapping of fields (kind, command, ...), got a list`},
		{"top scalar", "exec\n", `tollgate.yaml:1: the top level must be a mapping of fields (kind, command, ...), got a scalar`},
		{"unknown field", "kind: exec\ncommand: ./p\ncomand: ./q\n",
			`tollgate.yaml:3: comand: unknown field (known: kind, command, image, url, token_env, backend_listen, env, host_network, capabilities, profile, strict, skip, focus)`},
		{"literal token", "kind: url\ntoken: s3cr3t-token\n",
			`tollgate.yaml:2: token: unknown field: never commit a token; name the environment variable that holds it with token_env`},
		{"hint capability", "kind: exec\ncommand: ./p\ncapability: [token-file]\n", `tollgate.yaml:3: capability: unknown field: did you mean capabilities?`},
		{"duplicate field", "kind: exec\nkind: url\n", `tollgate.yaml:2: kind: given twice`},
		{"missing kind", "command: ./p\n", `tollgate.yaml: kind: missing: say which target this is (builtin, exec, url, image)`},
		{"wrong kind", "kind: docker\n", `tollgate.yaml:1: kind: unknown kind "docker" (builtin, exec, url, image)`},
		{"kind not string", "kind: [exec]\n", `tollgate.yaml:1: kind: must be a string, got a list`},
		{"kind null", "kind:\n", `tollgate.yaml:1: kind: must be a string, got nothing`},
		{"exec no command", "kind: exec\n", `tollgate.yaml:1: kind: kind exec needs command: the proxy's command line, e.g. command: ./my-proxy`},
		{"exec blank command", "kind: exec\ncommand: '  '\n", `tollgate.yaml:1: kind: kind exec needs command: the proxy's command line, e.g. command: ./my-proxy`},
		{"command list", "kind: exec\ncommand: [./p, -x]\n", `tollgate.yaml:2: command: must be a string, got a list`},
		{"image no image", "kind: image\n", `tollgate.yaml:1: kind: kind image needs image: a locally built image, e.g. image: my-proxy:dev`},
		{"image spaces", "kind: image\nimage: my proxy\n", `tollgate.yaml:2: image: "my proxy" is not an image reference (no spaces)`},
		{"command on image", "kind: image\nimage: p:1\ncommand: ./p\n", `tollgate.yaml:3: command: not used by kind image (only by kind exec)`},
		{"image on exec", "kind: exec\ncommand: ./p\nimage: p:1\n", `tollgate.yaml:3: image: not used by kind exec (only by kind image)`},
		{"url on builtin", "kind: builtin\nurl: http://127.0.0.1:1\n", `tollgate.yaml:2: url: not used by kind builtin (only by kind url)`},
		{"env on builtin", "kind: builtin\nenv: {A: b}\n", `tollgate.yaml:2: env: not used by kind builtin (only by kind exec or image)`},
		{"env on url", "kind: url\nenv: {A: b}\n", `tollgate.yaml:2: env: not used by kind url (only by kind exec or image)`},
		{"host_network on exec", "kind: exec\ncommand: ./p\nhost_network: true\n", `tollgate.yaml:3: host_network: not used by kind exec (only by kind image)`},
		{"token_env on exec", "kind: exec\ncommand: ./p\ntoken_env: T\n", `tollgate.yaml:3: token_env: not used by kind exec (only by kind url)`},
		{"url missing url", "kind: url\ntoken_env: T\nbackend_listen: 127.0.0.1:1\n", `tollgate.yaml:1: kind: kind url needs url: where the running proxy answers, e.g. url: http://127.0.0.1:11435`},
		{"url bad scheme", "kind: url\nurl: https://h:1\n", `tollgate.yaml:2: url: must be http://host:port, got "https://h:1"`},
		{"url no port", "kind: url\nurl: http://h\n", `tollgate.yaml:2: url: must be http://host:port, got "http://h"`},
		{"url credentials", "kind: url\nurl: http://u:pw@h:1\n", `tollgate.yaml:2: url: must not carry credentials; name the token's environment variable with token_env`},
		{"url missing token_env", "kind: url\nurl: http://h:1\nbackend_listen: 127.0.0.1:1\n", `tollgate.yaml:1: kind: kind url needs token_env: the name of the environment variable holding the running proxy's token`},
		{"url missing backend", "kind: url\nurl: http://h:1\ntoken_env: T\n", `tollgate.yaml:1: kind: kind url needs backend_listen: host:port the proxy forwards to (the harness's mock listens there)`},
		{"url bad backend", "kind: url\nurl: http://h:1\ntoken_env: T\nbackend_listen: 11434\n", `tollgate.yaml:4: backend_listen: must be host:port, got "11434"`},
		{"token_env literal", "kind: url\nurl: http://h:1\ntoken_env: abc-123.xyz\nbackend_listen: 127.0.0.1:1\n", `tollgate.yaml:3: token_env: must be the name of an environment variable (letters, digits, _), not the token itself`},
		{"env not map", "kind: exec\ncommand: ./p\nenv: [A=b]\n", `tollgate.yaml:3: env: must be a mapping of NAME: value, got a list`},
		{"env bad name", "kind: exec\ncommand: ./p\nenv: {\"A-B\": c}\n", `tollgate.yaml:3: env.A-B: "A-B" is not an environment variable name (letters, digits, _)`},
		{"env number", "kind: exec\ncommand: ./p\nenv:\n  PORT: [1]\n", `tollgate.yaml:4: env.PORT: must be a string (quote numbers and booleans), got a list`},
		{"env contract", "kind: exec\ncommand: ./p\nenv:\n  OLLAMA_PROXY_TOKEN: x\n", `tollgate.yaml:4: env.OLLAMA_PROXY_TOKEN: set by the harness on every launch (the launch contract); remove it`},
		{"capabilities scalar", "kind: exec\ncommand: ./p\ncapabilities: token-file\n", `tollgate.yaml:3: capabilities: must be a list, e.g. [token-file], got the string "token-file"`},
		{"unknown capability", "kind: exec\ncommand: ./p\ncapabilities:\n  - token-file\n  - tls\n", `tollgate.yaml:5: capabilities[1]: unknown capability "tls" (known: token-file, supervisor)`},
		{"bad profile", "kind: builtin\nprofile: strict\n", `tollgate.yaml:2: profile: unknown profile "strict" (health-exempt or strict-auth)`},
		{"strict string", "kind: builtin\nstrict: \"yes\"\n", `tollgate.yaml:2: strict: must be true or false, got the string "yes"`},
		{"strict number", "kind: builtin\nstrict: 1\n", `tollgate.yaml:2: strict: must be true or false, got the number 1`},
		{"skip not list", "kind: builtin\nskip: FWD-008\n", `tollgate.yaml:2: skip: must be a list of {id, reason}, got the string "FWD-008"`},
		{"skip bare id", "kind: builtin\nskip:\n  - FWD-008\n", `tollgate.yaml:3: skip[0]: must be {id: ..., reason: ...}, got the string "FWD-008" (every skip needs a reason)`},
		{"skip no reason", "kind: builtin\nskip:\n  - id: FWD-008\n", `tollgate.yaml:3: skip[0]: skipping FWD-008 needs a reason: say why it does not apply`},
		{"skip blank reason", "kind: builtin\nskip:\n  - {id: FWD-008, reason: ' '}\n", `tollgate.yaml:3: skip[0]: skipping FWD-008 needs a reason: say why it does not apply`},
		{"skip no id", "kind: builtin\nskip:\n  - {reason: because}\n", `tollgate.yaml:3: skip[0]: needs id: a requirement ID, group or label`},
		{"skip unknown key", "kind: builtin\nskip:\n  - {id: X, why: because}\n", `tollgate.yaml:3: skip[0].why: unknown field (known: id, reason)`},
		{"skip expression", "kind: builtin\nskip:\n  - {id: 'A || B', reason: r}\n", `tollgate.yaml:3: skip[0]: id "A || B" must be one requirement ID, group or label, not an expression`},
		{"focus expression", "kind: builtin\nfocus: [auth, '!streaming']\n", `tollgate.yaml:2: focus[1]: "!streaming" must be one requirement ID, group or label, not an expression`},
		{"focus mapping", "kind: builtin\nfocus: {a: b}\n", `tollgate.yaml:2: focus: must be a list, e.g. [AUTH-001, streaming], got a mapping`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.in), "tollgate.yaml")
			if err == nil {
				t.Fatalf("accepted %q as %+v", c.in, d)
			}
			if got := err.Error(); got != c.want {
				t.Fatalf("error\n got: %s\nwant: %s", got, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(p, []byte("kind: exec\ncommand: ./proxy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Path != p || d.Dir != dir {
		t.Fatalf("Path %q Dir %q, want %q %q", d.Path, d.Dir, p, dir)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || err.Error() != filepath.Join(dir, "missing.yaml")+": cannot read: no such file or directory" {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte("kind: exe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.HasPrefix(err.Error(), p+":1: kind: ") {
		t.Fatalf("bad kind: %v", err)
	}
}

// TestStarter: what `tollgate init` writes is valid as it stands and documents every field.
func TestStarter(t *testing.T) {
	d, err := Parse([]byte(Starter), "starter")
	if err != nil {
		t.Fatalf("starter does not validate: %v", err)
	}
	if d.Kind != KindExec || d.Command == "" {
		t.Fatalf("starter: %+v", d)
	}
	for _, f := range fields {
		if !strings.Contains(Starter, f+":") {
			t.Errorf("starter does not mention %s", f)
		}
	}
	// Uncommenting the documented examples must stay valid too.
	var un []string
	for _, l := range strings.Split(Starter, "\n") {
		s := strings.TrimPrefix(l, "# ")
		if strings.HasPrefix(l, "# ") && (strings.HasPrefix(s, "env:") || strings.HasPrefix(s, "  ") || strings.HasPrefix(s, "skip:") || strings.HasPrefix(s, "focus:")) {
			un = append(un, s)
			continue
		}
		un = append(un, l)
	}
	if _, err := Parse([]byte(strings.Join(un, "\n")), "starter-uncommented"); err != nil {
		t.Fatalf("starter with examples uncommented: %v\n%s", err, strings.Join(un, "\n"))
	}
}

func TestSkipIDs(t *testing.T) {
	d := &Descriptor{Skip: []Skip{{"A", "r"}, {"B", "s"}}}
	if got := d.SkipIDs(); !reflect.DeepEqual(got, []string{"A", "B"}) {
		t.Fatal(got)
	}
}
