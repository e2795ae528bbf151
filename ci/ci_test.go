// Package ci holds the CI gate: a composite GitHub Action, an example
// workflow and a POSIX shell script. These tests keep them valid.
package ci

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/suites/descriptor"
)

func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestYAMLValid parses every YAML file under ci/.
func TestYAMLValid(t *testing.T) {
	files := yamlFiles(t)
	if len(files) < 2 {
		t.Fatalf("expected action.yml and examples, found %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		} else if len(v) == 0 {
			t.Errorf("%s: empty", f)
		}
	}
}

type step struct {
	Name  string            `yaml:"name"`
	ID    string            `yaml:"id"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	With  map[string]string `yaml:"with"`
	Env   map[string]string `yaml:"env"`
}

type action struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Inputs      map[string]struct {
		Description string  `yaml:"description"`
		Required    bool    `yaml:"required"`
		Default     *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []step `yaml:"steps"`
	} `yaml:"runs"`
}

func TestAction(t *testing.T) {
	b, err := os.ReadFile("action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var a action
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&a); err != nil {
		t.Fatal(err)
	}
	if a.Name == "" || a.Description == "" || a.Runs.Using != "composite" {
		t.Fatalf("name %q description %q using %q", a.Name, a.Description, a.Runs.Using)
	}
	for _, in := range []string{"version", "descriptor", "report-dir", "args", "upload"} {
		i, ok := a.Inputs[in]
		if !ok {
			t.Errorf("input %s missing", in)
			continue
		}
		if i.Description == "" || i.Default == nil {
			t.Errorf("input %s needs a description and a default", in)
		}
	}
	if *a.Inputs["descriptor"].Default != "tollgate.yaml" {
		t.Errorf("descriptor default %q", *a.Inputs["descriptor"].Default)
	}
	if _, ok := a.Outputs["exit-code"]; !ok {
		t.Error("output exit-code missing")
	}
	inputRef := regexp.MustCompile(`inputs\.([a-z-]+)`)
	var all strings.Builder
	for _, s := range a.Runs.Steps {
		if s.Run != "" && s.Shell == "" {
			t.Errorf("step %q: composite run steps need a shell", s.Name)
		}
		if s.Run == "" && s.Uses == "" {
			t.Errorf("step %q does nothing", s.Name)
		}
		// No ${{ inputs.* }} inside a script: values go through env, never the shell text.
		if strings.Contains(s.Run, "${{") {
			t.Errorf("step %q interpolates an expression into its script; pass it through env", s.Name)
		}
		all.WriteString(s.Name + "\n" + s.Uses + "\n" + s.Run + "\n" + s.If + "\n")
		for _, v := range s.With {
			all.WriteString(v + "\n")
		}
		for _, v := range s.Env {
			all.WriteString(v + "\n")
		}
	}
	text := all.String()
	for _, m := range inputRef.FindAllStringSubmatch(text, -1) {
		if _, ok := a.Inputs[m[1]]; !ok {
			t.Errorf("steps refer to undeclared input %s", m[1])
		}
	}
	for _, want := range []string{
		"go install \"github.com/tollgate-dev/tollgate/cmd/tollgate@$TOLLGATE_VERSION\"",
		"command -v tollgate",
		"$GITHUB_ACTION_PATH/tollgate-gate.sh",
		"actions/upload-artifact@",
		`>> "$GITHUB_STEP_SUMMARY"`,
		"summary.md",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("action steps lack %q", want)
		}
	}
	// The upload and the summary run even when the gate fails; the last step fails the job.
	var upload, summary bool
	for _, s := range a.Runs.Steps {
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
			upload = strings.Contains(s.If, "always()") && s.With["path"] == "${{ inputs.report-dir }}"
		}
		if strings.Contains(s.Run, "GITHUB_STEP_SUMMARY") {
			summary = strings.Contains(s.If, "always()")
		}
	}
	if !upload || !summary {
		t.Errorf("upload (%v) and summary (%v) must run always()", upload, summary)
	}
	last := a.Runs.Steps[len(a.Runs.Steps)-1]
	if !strings.Contains(last.Run, "exit 1") || !strings.Contains(last.Run, "exit 2") || last.Env["CODE"] != "${{ steps.gate.outputs.exit-code }}" {
		t.Errorf("the last step must fail the job on exit codes 1 and 2: %+v", last)
	}
}

type workflow struct {
	Name string         `yaml:"name"`
	On   map[string]any `yaml:"on"`
	Jobs map[string]struct {
		RunsOn string `yaml:"runs-on"`
		Steps  []step `yaml:"steps"`
	} `yaml:"jobs"`
}

func TestExampleWorkflow(t *testing.T) {
	b, err := os.ReadFile("examples/conformance.yml")
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if w.Name == "" || len(w.On) == 0 || len(w.Jobs) == 0 {
		t.Fatalf("workflow %+v", w)
	}
	var gate *step
	for _, j := range w.Jobs {
		if j.RunsOn == "" {
			t.Error("job without runs-on")
		}
		for i, s := range j.Steps {
			if strings.HasPrefix(s.Uses, "tollgate-dev/tollgate/ci@") {
				gate = &j.Steps[i]
			}
		}
	}
	if gate == nil {
		t.Fatal("the example does not use tollgate-dev/tollgate/ci@<version>")
	}
	pin := strings.TrimPrefix(gate.Uses, "tollgate-dev/tollgate/ci@")
	if pin == "" || pin == "main" || pin == "master" || gate.With["version"] != pin {
		t.Errorf("the example must pin the action and tollgate to one version: uses %q, version %q", gate.Uses, gate.With["version"])
	}
	if gate.With["descriptor"] == "" {
		t.Error("the example names no descriptor")
	}
}

// TestReadmeSnippet: the README's CI-gate workflow is exactly the example, so it is valid YAML too.
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("examples/conformance.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "\n## Use it as a CI gate\n")
	if !ok {
		t.Fatal(`README.md has no "## Use it as a CI gate" section`)
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	_, block, ok := strings.Cut(sec, "```yaml\n")
	if !ok {
		t.Fatal("the CI-gate section has no ```yaml block")
	}
	block, rest, _ := strings.Cut(block, "```\n")
	if block != string(example) {
		t.Errorf("README's workflow differs from ci/examples/conformance.yml:\n%s", block)
	}
	// Every later YAML block in the section is a descriptor, and valid.
	n := 0
	for {
		var desc string
		var ok bool
		if _, rest, ok = strings.Cut(rest, "```yaml\n"); !ok {
			break
		}
		desc, rest, _ = strings.Cut(rest, "```\n")
		if _, err := descriptor.Parse([]byte(desc), "README descriptor example"); err != nil {
			t.Errorf("README descriptor example: %v", err)
		}
		n++
	}
	if n == 0 {
		t.Error("the CI-gate section shows no descriptor example")
	}
}

func TestGateScriptSyntax(t *testing.T) {
	for _, sh := range []string{"sh", "dash", "bash"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		if out, err := exec.Command(sh, "-n", "tollgate-gate.sh").CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, out)
		}
	}
}

// TestGateScriptExitCodes runs the script with a stand-in tollgate that
// records its arguments and exits with a chosen status.
func TestGateScriptExitCodes(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "tollgate")
	argsFile := filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\nexit ${FAKE_EXIT:-0}\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	desc := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(desc, []byte("kind: builtin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gate, _ := filepath.Abs("tollgate-gate.sh")
	run := func(env []string, args ...string) (int, string) {
		cmd := exec.Command("sh", append([]string{gate}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	for _, c := range []struct{ fake, want int }{{0, 0}, {1, 1}, {2, 2}, {3, 2}, {137, 2}} {
		code, out := run([]string{"TOLLGATE=" + fake, "FAKE_EXIT=" + strconv.Itoa(c.fake)}, "-f", desc, "-o", filepath.Join(dir, "rep"), "--", "--strict", "--focus", "auth")
		if code != c.want {
			t.Errorf("tollgate exit %d: gate exit %d, want %d\n%s", c.fake, code, c.want, out)
		}
	}
	got, _ := os.ReadFile(argsFile)
	want := "run\n-f\n" + desc + "\n--report-dir\n" + filepath.Join(dir, "rep") + "\n--strict\n--focus\nauth\n"
	if string(got) != want {
		t.Errorf("tollgate called with\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "rep")); err != nil {
		t.Errorf("report dir not created: %v", err)
	}
	// Defaults: tollgate.yaml and tollgate-report in the working directory, tollgate on PATH.
	code, out := run([]string{"PATH=" + dir + ":" + os.Getenv("PATH"), "FAKE_EXIT=1"})
	if code != 1 || !strings.Contains(out, "NOT conformant") {
		t.Errorf("defaults: exit %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(argsFile); !strings.HasPrefix(string(got), "run\n-f\ntollgate.yaml\n--report-dir\ntollgate-report\n") {
		t.Errorf("defaults: called with %q", got)
	}
	// Not judged: no tollgate, no descriptor.
	if code, out := run([]string{"TOLLGATE=" + filepath.Join(dir, "missing")}, "-f", desc); code != 2 || !strings.Contains(out, "not found") {
		t.Errorf("missing tollgate: exit %d\n%s", code, out)
	}
	if code, out := run([]string{"TOLLGATE=" + fake}, "-f", filepath.Join(dir, "none.yaml")); code != 2 || !strings.Contains(out, "no descriptor") {
		t.Errorf("missing descriptor: exit %d\n%s", code, out)
	}
}
