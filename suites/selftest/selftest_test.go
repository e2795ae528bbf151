// Package selftest proves the suite can fail: it runs `tollgate run` against
// every deliberately broken proxy in fixtures/broken and asserts each is
// caught by the requirement IDs it violates, and that the reference proxy,
// as a separate process, passes everything in both profiles.
package selftest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

var bin string // directory holding the freshly built binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-selftest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bin = dir
	for _, pkg := range []string{"./cmd/tollgate", "./cmd/ollama-auth-proxy", "./fixtures/broken"} {
		cmd := exec.Command("go", "build", "-o", dir+"/", pkg)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type flaw struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Fails       []string `json:"fails"`
}

func flaws(t *testing.T) []flaw {
	out, err := exec.Command(filepath.Join(bin, "broken"), "--list-flaws").Output()
	if err != nil {
		t.Fatalf("broken --list-flaws: %v", err)
	}
	var fs []flaw
	if err := json.Unmarshal(out, &fs); err != nil {
		t.Fatalf("broken --list-flaws: %v", err)
	}
	return fs
}

type results struct {
	Exit     int               `json:"exit_code"`
	Verdicts map[string]string `json:"verdicts"`
	Meta     struct {
		SuiteError string `json:"suite_error"`
	} `json:"meta"`
}

// tollgate runs one conformance run and returns its results.json.
func tollgate(t *testing.T, args ...string) (results, string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "tollgate"), append([]string{"run", "--strict", "--report-dir", dir}, args...)...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	var r results
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatalf("tollgate %s wrote no results.json:\n%s", strings.Join(args, " "), out)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	return r, string(out)
}

func profileOf(ids []string) string {
	for _, id := range ids {
		if r, ok := catalog.Lookup(id); ok && r.Profile == catalog.StrictAuth {
			return string(catalog.StrictAuth)
		}
	}
	return string(catalog.HealthExempt)
}

// TestBrokenProxiesAreCaught runs the requirements each flaw violates and
// expects every one of them to FAIL (never ERROR: that would blame the harness).
func TestBrokenProxiesAreCaught(t *testing.T) {
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, f := range flaws(t) {
		var ids []string
		for _, id := range f.Fails {
			if r, ok := catalog.Lookup(id); ok && !r.NeedsCap(catalog.Container) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue // container-only flaws are caught by the e2e suite
		}
		wg.Add(1)
		go func(f flaw, ids []string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(f.Name, func(t *testing.T) {
				command := filepath.Join(bin, "broken") + " --flaw " + f.Name
				profile := profileOf(ids)
				if profile == string(catalog.StrictAuth) {
					command += " --strict"
				}
				r, out := tollgate(t, "--exec", command, "--capabilities", "token-file,supervisor", "--profile", profile, "--focus", strings.Join(ids, ","))
				for _, id := range ids {
					if r.Verdicts[id] != "FAIL" {
						t.Errorf("flaw %q (%s): expected %s to FAIL, got %q\n%s", f.Name, f.Description, id, r.Verdicts[id], out)
					}
				}
				if r.Exit != 1 {
					t.Errorf("flaw %q: expected exit 1 (non-conformant), got %d", f.Name, r.Exit)
				}
			})
		}(f, ids)
	}
	wg.Wait()
}

// TestEveryRequirementHasABrokenProxy: a requirement no broken proxy fails
// has never been shown able to fail.
func TestEveryRequirementHasABrokenProxy(t *testing.T) {
	covered := map[string]bool{}
	for _, f := range flaws(t) {
		for _, id := range f.Fails {
			if _, ok := catalog.Lookup(id); !ok {
				t.Errorf("flaw %s names unknown requirement %s", f.Name, id)
			}
			covered[id] = true
		}
	}
	var missing []string
	for _, r := range catalog.All() {
		if !covered[r.ID] {
			missing = append(missing, r.ID)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("no broken proxy demonstrates these requirements can fail: %s", strings.Join(missing, ", "))
	}
}

// TestReferenceBinaryPassesBothProfiles judges the built ollama-auth-proxy
// as any third party's proxy would be judged.
func TestReferenceBinaryPassesBothProfiles(t *testing.T) {
	proxy := filepath.Join(bin, "ollama-auth-proxy")
	for _, c := range []struct{ profile, command string }{
		{"health-exempt", proxy},
		{"strict-auth", proxy + " --no-health-exemption"},
	} {
		t.Run(c.profile, func(t *testing.T) {
			r, out := tollgate(t, "--exec", c.command, "--capabilities", "token-file,supervisor", "--profile", c.profile)
			if r.Exit != 0 {
				t.Fatalf("the reference binary is not conformant under %s (exit %d):\n%s", c.profile, r.Exit, out)
			}
		})
	}
}

// TestIndependentProxyPassesEverything: fixtures/broken without a flaw is a
// second, independently written proxy; it passing every requirement (SHOULDs
// included) shows the suite judges behaviour, not the reference's quirks.
func TestIndependentProxyPassesEverything(t *testing.T) {
	r, out := tollgate(t, "--exec", filepath.Join(bin, "broken"), "--capabilities", "token-file,supervisor")
	if r.Exit != 0 {
		t.Fatalf("the flawless independent proxy is not conformant (exit %d):\n%s", r.Exit, out)
	}
}

// TestHarnessErrorsAreNotBlamedOnTheProxy: a target that cannot start is a
// harness/configuration error (exit 2), not a non-conformant proxy.
func TestHarnessErrorsAreNotBlamedOnTheProxy(t *testing.T) {
	r, out := tollgate(t, "--exec", "/nonexistent/proxy-binary")
	if r.Exit != 2 || r.Meta.SuiteError == "" {
		t.Fatalf("a target that cannot start: expected exit 2 with a suite error, got exit %d:\n%s", r.Exit, out)
	}
}

// TestFailuresCarryTheRedactedWire: a failed requirement's report shows the
// exchange that failed, with the token redacted.
func TestFailuresCarryTheRedactedWire(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "tollgate"), "run", "--report-dir", dir, "--focus", "FWD-001",
		"--exec", filepath.Join(bin, "broken")+" --flaw forward-token")
	_ = cmd.Run()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Results []struct {
			ID   string `json:"id"`
			Wire []struct {
				Request string `json:"request"`
			} `json:"wire"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Results) != 1 || len(r.Results[0].Wire) == 0 {
		t.Fatalf("no wire exchange for the failed FWD-001 (err %v):\n%s", err, b)
	}
	req := r.Results[0].Wire[len(r.Results[0].Wire)-1].Request
	if !strings.Contains(req, "Authorization: Bearer [REDACTED]") {
		t.Fatalf("the exchange's Authorization is not redacted:\n%s", req)
	}
}
