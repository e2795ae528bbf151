//go:build e2e

package containers_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/mockollama"
	"github.com/tollgate-dev/tollgate/proxy/cli"
	"github.com/tollgate-dev/tollgate/suites/containers"
)

const e2eToken = "tollgate-e2e-Token_0123456789abcdefXYZ"

// newSession starts a run on the named driver; at the end of the spec it
// closes the run and checks nothing labelled with the run ID is left.
func newSession(ctx context.Context, driver string) *containers.Session {
	s, err := containers.NewSession(ctx, containers.SessionOptions{Driver: driver, HandleSignals: true, Log: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		// Close and the check run to the end even when the run is interrupted.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, err := s.Close(cctx)
		Expect(err).NotTo(HaveOccurred())
		left, err := containers.Cleanup(cctx, s.RunID)
		Expect(err).NotTo(HaveOccurred())
		Expect(left).To(Equal(containers.Removed{}), "resources of run %s left behind", s.RunID)
	})
	return s
}

func freePort() int {
	p, err := containers.FreePort()
	Expect(err).NotTo(HaveOccurred())
	return p
}

// startMock runs the mock Ollama in-process on addr.
func startMock(addr string) *mockollama.Server {
	m, err := mockollama.Start(addr, mockollama.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(m.Close)
	return m
}

// startReferenceProxy runs proxy/cli.Main in-process on 0.0.0.0:proxyPort.
func startReferenceProxy(ctx context.Context, proxyPort, backendPort int) {
	env := map[string]string{
		"OLLAMA_PROXY_TOKEN":  e2eToken,
		"OLLAMA_PROXY_PORT":   strconv.Itoa(proxyPort),
		"OLLAMA_BACKEND_PORT": strconv.Itoa(backendPort),
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan int, 1)
	go func() {
		defer GinkgoRecover()
		done <- cli.Main(pctx, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, GinkgoWriter, GinkgoWriter)
	}()
	DeferCleanup(func() {
		cancel()
		Eventually(done).WithTimeout(15 * time.Second).Should(Receive())
	})
	Expect(containers.WaitListening(ctx, "127.0.0.1:"+strconv.Itoa(proxyPort), 10*time.Second)).To(Succeed())
}

// startBroken runs fixtures/broken as a host process with the launch contract.
func startBroken(ctx context.Context, proxyPort, backendPort int, args ...string) {
	cmd := exec.Command(brokenBin, args...)
	cmd.Env = append(os.Environ(),
		"OLLAMA_PROXY_TOKEN="+e2eToken,
		"OLLAMA_PROXY_PORT="+strconv.Itoa(proxyPort),
		"OLLAMA_BACKEND_PORT="+strconv.Itoa(backendPort),
	)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	Expect(containers.WaitListening(ctx, "127.0.0.1:"+strconv.Itoa(proxyPort), 10*time.Second)).To(Succeed())
}

func report(vs ...containers.Verdict) {
	for _, v := range vs {
		fmt.Fprintln(GinkgoWriter, v)
		if v.Pass {
			fmt.Fprintf(GinkgoWriter, "    [%s] %s\n", v.Driver, v.Actual)
		}
	}
}

func expectPass(v containers.Verdict) {
	report(v)
	ExpectWithOffset(1, v.HarnessError).To(BeEmpty(), "%s could not be judged", v.ID)
	ExpectWithOffset(1, v.Pass).To(BeTrue(), "%s", v)
}

func expectFail(v containers.Verdict, id string) {
	report(v)
	ExpectWithOffset(1, v.ID).To(Equal(id))
	ExpectWithOffset(1, v.HarnessError).To(BeEmpty(), "%s could not be judged", v.ID)
	ExpectWithOffset(1, v.Failed()).To(BeTrue(), "%s should report a failure: %s", id, v)
}

var _ = Describe("host topology (proxy as a host process, reached through host-gateway)", func() {
	It("passes NET-001 and NET-002 with the reference proxy in-process on 0.0.0.0", func(ctx SpecContext) {
		bp, pp := freePort(), freePort()
		startMock("127.0.0.1:" + strconv.Itoa(bp))
		startReferenceProxy(ctx, pp, bp)
		s := newSession(ctx, containers.DefaultDriver)
		t := containers.HostTarget{ProxyPort: pp, BackendPort: bp, Token: e2eToken}
		for _, v := range s.HostChecks(ctx, t) {
			expectPass(v)
		}
	}, SpecTimeout(60*time.Second))

	It("fails NET-001 when the proxy listens on loopback only (fixtures/broken --flaw loopback-only)", func(ctx SpecContext) {
		bp, pp := freePort(), freePort()
		startMock("127.0.0.1:" + strconv.Itoa(bp))
		startBroken(ctx, pp, bp, "--flaw", "loopback-only")
		s := newSession(ctx, containers.DefaultDriver)
		v := s.CheckHostProxyReachable(ctx, containers.HostTarget{ProxyPort: pp, BackendPort: bp, Token: e2eToken})
		expectFail(v, containers.ReqHostProxyReachable)
		Expect(v.Actual).To(ContainSubstring("without token: connection refused"))
	}, SpecTimeout(60*time.Second))

	It("fires NET-002 when the backend listens on 0.0.0.0 (CWE-668)", func(ctx SpecContext) {
		bp, pp := freePort(), freePort()
		startMock("0.0.0.0:" + strconv.Itoa(bp))
		startReferenceProxy(ctx, pp, bp)
		s := newSession(ctx, containers.DefaultDriver)
		t := containers.HostTarget{ProxyPort: pp, BackendPort: bp, Token: e2eToken}
		expectPass(s.CheckHostProxyReachable(ctx, t))
		v := s.CheckHostBackendIsolated(ctx, t)
		expectFail(v, containers.ReqHostBackendIsolated)
		Expect(v.Actual).To(ContainSubstring("CWE-668"))
	}, SpecTimeout(60*time.Second))
})

var _ = Describe("container topology (proxy container in the mock's network namespace)", func() {
	It("passes NET-003, NET-004 and NET-005 with the reference proxy image and a token-file volume", func(ctx SpecContext) {
		s := newSession(ctx, containers.DefaultDriver)
		topo, err := s.StartContainerTopology(ctx, containers.ContainerTarget{TokenFile: true})
		Expect(err).NotTo(HaveOccurred())
		for _, id := range []string{topo.MockID, topo.ProxyID, topo.ProbeID} {
			ci, err := s.Driver.Inspect(ctx, id)
			Expect(err).NotTo(HaveOccurred())
			Expect(ci.Labels).To(HaveKeyWithValue(containers.LabelRun, s.RunID))
		}
		for _, v := range topo.ContainerChecks(ctx) {
			expectPass(v)
		}
	}, SpecTimeout(120*time.Second))
})

var _ = Describe("container topology with the token in the environment", func() {
	It("passes NET-003 and NET-005 and skips NET-004 (no token file)", func(ctx SpecContext) {
		s := newSession(ctx, containers.DefaultDriver)
		vs := s.RunContainerChecks(ctx, containers.ContainerTarget{Token: e2eToken})
		Expect(vs).To(HaveLen(3))
		expectPass(vs[0])
		report(vs[1])
		Expect(vs[1].Skipped).NotTo(BeEmpty())
		expectPass(vs[2])
	}, SpecTimeout(120*time.Second))
})

var _ = Describe("drivers", func() {
	It("give the same verdicts through testcontainers-go and dockertest", func(ctx SpecContext) {
		bp, good, bad := freePort(), freePort(), freePort()
		startMock("127.0.0.1:" + strconv.Itoa(bp))
		startReferenceProxy(ctx, good, bp)
		startBroken(ctx, bad, bp, "--flaw", "loopback-only")
		verdicts := map[string][2]bool{}
		for _, driver := range containers.DriverNames() {
			s := newSession(ctx, driver)
			g := s.CheckHostProxyReachable(ctx, containers.HostTarget{ProxyPort: good, BackendPort: bp, Token: e2eToken})
			b := s.CheckHostProxyReachable(ctx, containers.HostTarget{ProxyPort: bad, BackendPort: bp, Token: e2eToken})
			report(g, b)
			Expect(g.HarnessError + b.HarnessError).To(BeEmpty())
			Expect(g.Driver).To(Equal(driver))
			verdicts[driver] = [2]bool{g.Pass, b.Pass}
		}
		Expect(verdicts[containers.Testcontainers]).To(Equal([2]bool{true, false}))
		Expect(verdicts[containers.Dockertest]).To(Equal(verdicts[containers.Testcontainers]))
	}, SpecTimeout(90*time.Second))

	It("runs the container topology through dockertest too", func(ctx SpecContext) {
		s := newSession(ctx, containers.Dockertest)
		for _, v := range s.RunContainerChecks(ctx, containers.ContainerTarget{TokenFile: true}) {
			expectPass(v)
		}
	}, SpecTimeout(120*time.Second))
})
