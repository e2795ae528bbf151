//go:build e2e

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/fixtures/images"
	"github.com/tollgate-dev/tollgate/suites/containers"
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

// TestRunImageHostNetwork judges images on the request-level requirements,
// one container on the host's network per start: the reference image passes
// every one of them; fixtures/broken's image with a flaw set through the
// descriptor's env (host_network: true there) fails the requirement the flaw
// breaks.
func TestRunImageHostNetwork(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", dir+"/tollgate", ".").CombinedOutput(); err != nil {
		t.Fatalf("build tollgate: %v\n%s", err, out)
	}
	if _, err := containers.EnsureImages(context.Background(), containers.BuildOptions{Images: []images.Spec{images.Broken}}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		cmd := exec.Command(dir+"/tollgate", append([]string{"run", "--quiet"}, args...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run tollgate: %v", err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run("--image", images.Proxy.Ref, "--host-network", "--capabilities", "token-file"); code != 0 || !strings.Contains(out, " 0 failed") {
		t.Fatalf("reference image: exit %d, want 0\n%s", code, out)
	}
	desc := filepath.Join(dir, "tollgate.yaml")
	yaml := "kind: image\nimage: " + images.Broken.Ref + "\nhost_network: true\nenv:\n  TOLLGATE_FLAW: accept-any-token\nfocus: [AUTH-002, AUTH-010]\n"
	if err := os.WriteFile(desc, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := run("-f", desc)
	if code != 1 || !strings.Contains(out, "FAIL AUTH-002") || !strings.Contains(out, "1 passed, 1 failed") {
		t.Fatalf("broken image with accept-any-token: exit %d, want 1 with AUTH-002 failing and AUTH-010 passing\n%s", code, out)
	}
	// The container topology takes the descriptor's env too: bound to
	// loopback, the proxy is out of the peer container's reach.
	yaml = "kind: image\nimage: " + images.Broken.Ref + "\nenv:\n  TOLLGATE_FLAW: loopback-only\n"
	if err := os.WriteFile(desc, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("-f", desc); code != 1 || !strings.Contains(out, "FAIL NET-003") {
		t.Fatalf("broken image with loopback-only in the container topology: exit %d, want 1 with NET-003 failing\n%s", code, out)
	}
}
