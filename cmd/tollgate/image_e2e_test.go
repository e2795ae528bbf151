//go:build e2e

package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestRunImageReferenceProxy judges the reference proxy's image through the
// CLI with both drivers: every container requirement passes.
func TestRunImageReferenceProxy(t *testing.T) {
	for _, driver := range []string{"testcontainers", "dockertest"} {
		t.Run(driver, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch([]string{"run", "--image", "tollgate/ollama-auth-proxy:dev", "--capabilities", "token-file",
				"--driver", driver, "--report-dir", t.TempDir()}, &stdout, &stderr)
			if code != 0 || !strings.Contains(stdout.String(), "3 passed, 0 failed") {
				t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
			}
		})
	}
}

// TestRunContainersHostTopology: the builtin proxy is reachable from a
// container and its backend is not; a proxy bound to loopback fails NET-001.
func TestRunContainersHostTopology(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"run", "--containers"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "2 passed, 0 failed") {
		t.Fatalf("builtin: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "../../fixtures/broken")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build broken: %v\n%s", err, out)
	}
	stdout.Reset()
	code := dispatch([]string{"run", "--containers", "--exec", dir + "/broken --flaw loopback-only"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stdout.String(), "FAIL  NET-001") {
		t.Fatalf("loopback-only: exit %d, want 1 with NET-001 failing\n%s", code, stdout.String())
	}
}
