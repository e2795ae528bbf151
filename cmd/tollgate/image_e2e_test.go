//go:build e2e

package main

import (
	"bytes"
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
