package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/descriptor"
	"github.com/tollgate-dev/tollgate/suites/target"
)

func writeDescriptor(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tollgate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runFlags mirrors the flags of `tollgate run` that a descriptor can set.
func runFlags(o *runOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.exec, "exec", "", "")
	fs.StringVar(&o.url, "url", "", "")
	fs.StringVar(&o.token, "token", "", "")
	fs.StringVar(&o.backendListen, "backend-listen", "", "")
	fs.Var(&o.caps, "capabilities", "")
	fs.StringVar(&o.profile, "profile", string(catalog.HealthExempt), "")
	fs.BoolVar(&o.strict, "strict", false, "")
	fs.Var(&o.focus, "focus", "")
	fs.Var(&o.skip, "skip", "")
	return fs
}

const execDescriptor = `kind: exec
command: python3 proxy.py
env: {PYTHONUNBUFFERED: "1", LOG_LEVEL: debug}
capabilities: [token-file]
profile: strict-auth
strict: true
focus: [auth]
skip:
  - {id: FWD-008, reason: behind a load balancer}
`

func TestDescriptorFillsOptions(t *testing.T) {
	p := writeDescriptor(t, execDescriptor)
	var o runOpts
	fs := runFlags(&o)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	ft, err := applyDescriptor(p, &o, fs)
	if err != nil {
		t.Fatal(err)
	}
	if o.exec != "python3 proxy.py" || o.profile != "strict-auth" || !o.strict ||
		!reflect.DeepEqual([]string(o.caps), []string{"token-file"}) ||
		!reflect.DeepEqual([]string(o.focus), []string{"auth"}) || !reflect.DeepEqual([]string(o.skip), []string{"FWD-008"}) {
		t.Fatalf("options %+v", o)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	finishDescriptor(&cfg, ft, &out)
	e, ok := cfg.Target.(*target.Exec)
	if !ok {
		t.Fatalf("target %T", cfg.Target)
	}
	if e.Dir != filepath.Dir(p) || e.ExtraEnv["LOG_LEVEL"] != "debug" || e.Command != "python3 proxy.py" || !e.Caps()[catalog.TokenFile] {
		t.Fatalf("exec target %+v", e)
	}
	if cfg.Profile != catalog.StrictAuth || !cfg.Strict {
		t.Fatalf("cfg %+v", cfg)
	}
	if cfg.Redacted["descriptor"] != p || cfg.Redacted["env"] != "LOG_LEVEL,PYTHONUNBUFFERED" || cfg.Redacted["skip"] != "FWD-008: behind a load balancer" {
		t.Fatalf("recorded config %v", cfg.Redacted)
	}
	if !strings.Contains(out.String(), "skipping FWD-008 (tollgate.yaml): behind a load balancer") {
		t.Fatalf("skip reason not printed: %q", out.String())
	}
}

func TestFlagsOverrideDescriptor(t *testing.T) {
	p := writeDescriptor(t, execDescriptor)
	var o runOpts
	fs := runFlags(&o)
	args := []string{"--exec", "./other", "--profile", "health-exempt", "--strict=false", "--capabilities", "", "--focus", "STRM-001", "--skip", "AUTH-011"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	ft, err := applyDescriptor(p, &o, fs)
	if err != nil {
		t.Fatal(err)
	}
	if o.exec != "./other" || o.profile != "health-exempt" || o.strict || len(o.caps) != 0 ||
		!reflect.DeepEqual([]string(o.focus), []string{"STRM-001"}) || !reflect.DeepEqual([]string(o.skip), []string{"AUTH-011"}) {
		t.Fatalf("flags did not win: %+v", o)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	finishDescriptor(&cfg, ft, &out)
	e := cfg.Target.(*target.Exec)
	if e.Dir != "" || e.ExtraEnv != nil {
		t.Fatalf("--exec replaces the file's target, env and directory included: %+v", e)
	}
	if _, ok := cfg.Redacted["skip"]; ok || out.Len() != 0 {
		t.Fatalf("--skip replaces the file's skip list: %v %q", cfg.Redacted, out.String())
	}
}

func TestDescriptorURLTarget(t *testing.T) {
	p := writeDescriptor(t, "kind: url\nurl: http://127.0.0.1:18435\ntoken_env: TG_TEST_PROXY_TOKEN\nbackend_listen: 127.0.0.1:18434\n")
	t.Setenv("TG_TEST_PROXY_TOKEN", "from-the-environment-123")
	var o runOpts
	fs := runFlags(&o)
	_ = fs.Parse(nil)
	ft, err := applyDescriptor(p, &o, fs)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	finishDescriptor(&cfg, ft, io.Discard)
	if _, ok := cfg.Target.(*target.URL); !ok || cfg.Token != "from-the-environment-123" || cfg.BackendListen != "127.0.0.1:18434" {
		t.Fatalf("url target: %T %+v", cfg.Target, cfg)
	}
	if cfg.Redacted["token_env"] != "TG_TEST_PROXY_TOKEN" {
		t.Fatalf("config %v", cfg.Redacted)
	}
	for k, v := range cfg.Redacted {
		if strings.Contains(v, "from-the-environment-123") {
			t.Fatalf("token recorded in config %s", k)
		}
	}
	// --token on the command line wins over token_env.
	var o2 runOpts
	fs = runFlags(&o2)
	_ = fs.Parse([]string{"--token", "given-on-the-cli"})
	if _, err := applyDescriptor(p, &o2, fs); err != nil || o2.token != "given-on-the-cli" {
		t.Fatalf("token %q err %v", o2.token, err)
	}
}

// TestRunDescriptorErrors: a bad descriptor is a configuration error, exit 2,
// with one line naming the field; nothing is run.
func TestRunDescriptorErrors(t *testing.T) {
	t.Setenv("TG_TEST_EMPTY_TOKEN", "")
	cases := []struct{ body, want string }{
		{"kind: exec\n", ":1: kind: kind exec needs command"},
		{"kind: exec\ncommand: ./p\nprofile: open\n", `:3: profile: unknown profile "open"`},
		{"kind: exec\ncommand: ./p\nsurprise: 1\n", ":3: surprise: unknown field"},
		{"kind: url\nurl: http://127.0.0.1:1\ntoken_env: TG_TEST_EMPTY_TOKEN\nbackend_listen: 127.0.0.1:2\n",
			"token_env: environment variable TG_TEST_EMPTY_TOKEN is not set or empty"},
	}
	for _, c := range cases {
		p := writeDescriptor(t, c.body)
		var stdout, stderr bytes.Buffer
		code := dispatch([]string{"run", "-f", p}, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", c.body, code)
		}
		msg := strings.TrimSuffix(stderr.String(), "\n")
		if !strings.HasPrefix(msg, "tollgate run: ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%q: stderr %q, want one line containing %q", c.body, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: something ran: %q", c.body, stdout.String())
		}
	}
	var stderr bytes.Buffer
	if code := dispatch([]string{"run", "-f", filepath.Join(t.TempDir(), "none.yaml")}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "cannot read") {
		t.Errorf("missing file: exit %d %q", code, stderr.String())
	}
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tollgate.yaml")
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"init", p}, &stdout, &stderr); code != 0 {
		t.Fatalf("init: exit %d %s", code, stderr.String())
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != descriptor.Starter {
		t.Fatalf("init wrote %q (%v)", b, err)
	}
	if _, err := descriptor.Load(p); err != nil {
		t.Fatalf("starter does not load: %v", err)
	}
	// Refuses to overwrite, and leaves the file alone.
	if err := os.WriteFile(p, []byte("kind: builtin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := dispatch([]string{"init", p}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "already exists; use --force") {
		t.Fatalf("second init: exit %d %q", code, stderr.String())
	}
	if b, _ := os.ReadFile(p); string(b) != "kind: builtin\n" {
		t.Fatal("init overwrote without --force")
	}
	if code := dispatch([]string{"init", "--force", p}, io.Discard, &stderr); code != 0 {
		t.Fatalf("init --force: exit %d", code)
	}
	if b, _ := os.ReadFile(p); string(b) != descriptor.Starter {
		t.Fatal("--force did not overwrite")
	}
	// Default name, in the working directory.
	t.Chdir(dir)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if code := dispatch([]string{"init"}, io.Discard, io.Discard); code != 0 {
		t.Fatal("init without a name")
	}
	if _, err := os.Stat(filepath.Join(dir, "tollgate.yaml")); err != nil {
		t.Fatal(err)
	}
	if code := dispatch([]string{"init", "a", "b"}, io.Discard, io.Discard); code != 2 {
		t.Fatal("two names accepted")
	}
}

// An image target whose image is not present (or with no Docker engine at
// all) is a harness error: exit 2, one line, nothing judged.
func TestRunImageMissingIsAHarnessError(t *testing.T) {
	p := writeDescriptor(t, "kind: image\nimage: tollgate-test/no-such-image:never\n")
	var stdout, stderr bytes.Buffer
	code := dispatch([]string{"run", "-f", p}, &stdout, &stderr)
	msg := strings.TrimSuffix(stderr.String(), "\n")
	if code != 2 || !strings.HasPrefix(msg, "tollgate run: ") || strings.Contains(msg, "\n") {
		t.Fatalf("exit %d, stderr %q: want exit 2 and one line", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("something ran: %q", stdout.String())
	}
}
