package conformance

import (
	"encoding/xml"
	"os"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// TestBuiltinConformance runs the whole catalogue against the reference proxy
// in-process: it must pass every requirement (SHOULDs included).
func TestBuiltinConformance(t *testing.T) {
	dir := t.TempDir()
	out := Run(t, Config{Target: &target.Builtin{}, Strict: true, Seed: 1, Out: os.Stdout, ReportDir: dir, ToolVersion: "test"})
	if out.Exit != 0 {
		t.Fatalf("the reference proxy is not conformant: exit %d", out.Exit)
	}
	for _, r := range out.Results {
		if r.Verdict != "PASS" && !(r.Verdict == "SKIP" && r.Group == "strict-auth") {
			t.Errorf("%s: %s %s", r.ID, r.Verdict, r.Message)
		}
	}
	for _, f := range []string{"results.json", "summary.md", "junit.xml"} {
		b, err := os.ReadFile(dir + "/" + f)
		if err != nil {
			t.Errorf("report %s not written: %v", f, err)
		}
		if strings.Contains(string(b), H.Token) {
			t.Errorf("report %s contains the run's token", f)
		}
	}
	var junit reporters.JUnitTestSuites
	b, _ := os.ReadFile(dir + "/junit.xml")
	if err := xml.Unmarshal(b, &junit); err != nil || junit.Tests < len(out.Results) {
		t.Errorf("junit.xml does not parse as JUnit with every requirement (err %v, %d tests)", err, junit.Tests)
	}
}

// TestEveryRequirementHasASpec: a requirement without a spec would be listed
// but never judged. Container requirements live in the container suites.
func TestEveryRequirementHasASpec(t *testing.T) {
	for _, r := range catalog.All() {
		if r.NeedsCap(catalog.Container) {
			continue
		}
		if !specs[r.ID] {
			t.Errorf("%s has no spec in suites/conformance", r.ID)
		}
	}
}

func TestBypassCatalogueSize(t *testing.T) {
	if n := BypassVariantCount(); n < 40 {
		t.Fatalf("the exemption bypass catalogue has %d variants; at least 40 are required", n)
	}
}
