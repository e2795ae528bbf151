//go:build e2e

package containers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/suites/containers"
)

// The container suites need a Docker engine; `make test` never builds them
// (build tag e2e). `make e2e` builds the images if stale and runs them.

var (
	brokenBin string // fixtures/broken, compiled for the host
	binDir    string
)

func TestContainersE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := containers.CheckEngine(ctx); err != nil {
		t.Fatalf("e2e: %v", err) // one clear line: no engine is never a pass
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Container suites (e2e)")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	root, err := containers.ModuleRoot(ctx)
	Expect(err).NotTo(HaveOccurred())
	_, err = containers.EnsureImages(ctx, containers.BuildOptions{ModuleRoot: root, Log: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred(), "images")

	binDir = GinkgoT().TempDir()
	Expect(containers.BuildBinaries(ctx, root, binDir, "./fixtures/broken")).To(Succeed())
	brokenBin = filepath.Join(binDir, "broken")
	_, err = os.Stat(brokenBin)
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(150*time.Second))
