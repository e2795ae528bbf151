package conformance

import (
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/suites/target"
)

// Refusal is how a launch that must be refused ended.
type Refusal struct {
	Exited   bool
	Code     int
	Listened bool
	Output   string
}

// ExpectRefusal launches l and asserts the proxy exits non-zero without ever
// accepting a connection on its port.
func ExpectRefusal(l target.Launch, what string) Refusal {
	inst, err := H.Launch(l)
	if err != nil {
		HarnessFail("%s: %v", what, err)
	}
	r := Refusal{}
	deadline := time.After(5 * time.Second)
	addr := inst.Addr()
loop:
	for {
		if Listening(addr) {
			r.Listened = true
		}
		select {
		case <-inst.Done():
			r.Exited, r.Code = true, inst.ExitCode()
			break loop
		case <-deadline:
			break loop
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.Output = inst.Output()
	if !r.Exited {
		_ = inst.Kill()
	}
	ExpectWithOffset(1, r.Listened).To(BeFalse(), "%s: the proxy listened on its port", what)
	ExpectWithOffset(1, r.Exited).To(BeTrue(), "%s: the proxy was still running after 5 s; expected it to refuse and exit", what)
	ExpectWithOffset(1, r.Code).NotTo(BeZero(), "%s: exit status", what)
	return r
}

func withoutToken(l target.Launch) target.Launch {
	delete(l.Env, "OLLAMA_PROXY_TOKEN")
	return l
}

var _ = Requirement("START-001", func(ctx SpecContext) {
	ExpectRefusal(withoutToken(H.Contract(NewToken(), "")), "start without OLLAMA_PROXY_TOKEN")
})

var _ = Requirement("START-002", func(ctx SpecContext) {
	l := H.Contract(NewToken(), "")
	l.Env["OLLAMA_PROXY_TOKEN"] = ""
	ExpectRefusal(l, "start with OLLAMA_PROXY_TOKEN empty")
})

var _ = Requirement("START-003", func(ctx SpecContext) {
	l := H.Contract(NewToken(), "")
	l.Env["OLLAMA_BACKEND_PORT"] = l.Env["OLLAMA_PROXY_PORT"] // a free port: nothing else listens there
	ExpectRefusal(l, "start with OLLAMA_PROXY_PORT == OLLAMA_BACKEND_PORT")
})

var _ = Requirement("START-004", func(ctx SpecContext) {
	r := ExpectRefusal(withoutToken(H.Contract(NewToken(), "")), "start without a token")
	out := strings.TrimSpace(r.Output)
	Expect(out).NotTo(BeEmpty(), "a refused start printed nothing")
	Expect(len(strings.Split(out, "\n"))).To(BeNumerically("<=", 3), "a refusal should be a line or two, got:\n%s", out)
	for _, trace := range []string{"panic:", "goroutine ", "Traceback", "    at ", "Exception in thread"} {
		Expect(out).NotTo(ContainSubstring(trace), "the refusal printed a stack trace:\n%s", out)
	}
})

var _ = Requirement("START-005", func(ctx SpecContext) {
	for _, bad := range []string{"abc", "70000", "-1", "11435x"} {
		l := H.Contract(NewToken(), "")
		l.Env["OLLAMA_PROXY_PORT"] = bad
		ExpectRefusal(l, "start with OLLAMA_PROXY_PORT="+bad)
	}
})

var _ = Requirement("START-006", func(ctx SpecContext) {
	token := NewToken()
	Secret(token)
	l := H.Contract(token, "")
	inst, err := H.Start(ctx, l)
	Expect(err).NotTo(HaveOccurred(), "the proxy did not listen on OLLAMA_PROXY_PORT=%d", l.Port)
	defer inst.Kill()
	Expect(inst.Addr()).To(HaveSuffix(":" + strconv.Itoa(l.Port)))
	r := H.On(inst).Get(ctx, protected, Bearer(token))
	ExpectForwarded(r, "a request through the instance started on the contract's ports")
})
