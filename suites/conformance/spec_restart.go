package conformance

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/suites/target"
)

// killAndRestart kills inst while a stream is in flight (so old connections
// linger in TIME_WAIT), checks the port closes, and starts l again on it.
func killAndRestart(ctx SpecContext, inst target.Instance, l target.Launch, token string) target.Instance {
	via := H.On(inst)
	ExpectForwarded(via.Get(ctx, protected, Bearer(token)), "before the kill")
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go via.Stream(sctx, "POST", "/api/generate", strings.NewReader(genBody), nil, append(paced(50, 100*time.Millisecond), Bearer(token))...)
	time.Sleep(300 * time.Millisecond)
	Expect(inst.Kill()).To(Succeed(), "killing the proxy")
	Expect(WaitClosed(inst.Addr(), 5*time.Second)).To(BeTrue(), "the port must close once the proxy is killed")
	again, err := H.Start(ctx, l)
	Expect(err).NotTo(HaveOccurred(), "restarting the proxy on the same port")
	DeferCleanup(again.Kill)
	return again
}

func expectServes(ctx SpecContext, inst target.Instance, token string) {
	via := H.On(inst)
	ExpectForwarded(via.Get(ctx, protected, Bearer(token)), "the old token after the restart")
	s := via.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, append(paced(5, 20*time.Millisecond), Bearer(token))...)
	Expect(s.Err).NotTo(HaveOccurred())
	Expect(hasDone(s)).To(BeTrue(), "inference must stream after the restart")
}

var _ = Requirement("RST-001", func(ctx SpecContext) {
	token := NewToken()
	Secret(token)
	l := H.Contract(token, "")
	inst, err := H.Start(ctx, l)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(inst.Kill)
	expectServes(ctx, killAndRestart(ctx, inst, l, token), token)
})

var _ = Requirement("RST-002", func(ctx SpecContext) {
	_, file := tokenDir()
	inst, l := startFromFile(ctx, file, 0)
	token := readToken(file)
	expectServes(ctx, killAndRestart(ctx, inst, l, token), token)
})

var _ = Requirement("RST-003", func(ctx SpecContext) {
	token := NewToken()
	Secret(token)
	inst, err := H.Start(ctx, H.Contract(token, ""))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(inst.Kill)
	first := make(chan struct{})
	streamed := make(chan Stream, 1)
	go func() {
		defer GinkgoRecover()
		var once bool
		streamed <- H.On(inst).Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), func(Line) bool {
			if !once {
				once = true
				close(first)
			}
			return false
		}, append(paced(6, 100*time.Millisecond), Bearer(token))...)
	}()
	Eventually(first).WithTimeout(5 * time.Second).Should(BeClosed())
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		stopped <- inst.Stop(sctx)
	}()
	Expect(WaitClosed(inst.Addr(), 2*time.Second)).To(BeTrue(), "the port must close soon after SIGTERM")
	var s Stream
	Eventually(streamed).WithTimeout(10 * time.Second).Should(Receive(&s))
	Expect(s.Err).NotTo(HaveOccurred(), "the in-flight stream was cut by SIGTERM")
	Expect(hasDone(s)).To(BeTrue(), "the in-flight stream must finish after SIGTERM")
	Eventually(stopped).WithTimeout(15*time.Second).Should(Receive(BeNil()), "the proxy must exit after draining")
	Expect(inst.ExitCode()).To(BeZero(), "exit status after SIGTERM")
})
