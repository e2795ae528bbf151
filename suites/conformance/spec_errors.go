package conformance

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Requirement("ERR-001", func(ctx SpecContext) {
	H.BackendDown(func() {
		start := time.Now()
		r := H.Get(ctx, protected, H.Authed())
		Expect(r.Err).NotTo(HaveOccurred(), "an authenticated request with the backend down")
		Expect(r.Status).To(Equal(http.StatusBadGateway), "status with the backend down: got %s", r)
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second), "time to the 502")
	})
})

var _ = Requirement("ERR-002", func(ctx SpecContext) {
	H.BackendDown(func() {
		r := H.Get(ctx, protected, H.Authed())
		Expect(r.Status).To(Equal(http.StatusBadGateway))
		ExpectOllamaError(r.Header, r.Body, "the 502 body")
	})
})

var _ = Requirement("ERR-003", func(ctx SpecContext) {
	port := strconv.Itoa(H.BackendPort())
	H.BackendDown(func() {
		r := H.PostJSON(ctx, "/api/generate", genBody, H.Authed())
		Expect(r.Status).To(Equal(http.StatusBadGateway))
		text := strings.ToLower(string(r.Body) + fmt.Sprint(r.Header))
		for _, leak := range []string{"127.0.0.1", ":" + port, "refused", "dial ", "connect:", "econnrefused", "tcp"} {
			Expect(text).NotTo(ContainSubstring(leak), "the 502 leaks %q: %s", leak, clip(r.Body, 200))
		}
	})
})

var _ = Requirement("ERR-004", func(ctx SpecContext) {
	H.BackendDown(func() {
		r := H.Get(ctx, protected)
		Expect(r.Err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(http.StatusUnauthorized), "a tokenless request with the backend down: got %s", r)
		r = H.Get(ctx, protected, Bearer(NewToken()))
		Expect(r.Status).To(Equal(http.StatusUnauthorized), "a wrong token with the backend down: got %s", r)
	})
})

var _ = Requirement("ERR-005", func(ctx SpecContext) {
	H.BackendDown(func() {
		Expect(H.Get(ctx, protected, H.Authed()).Status).To(Equal(http.StatusBadGateway), "with the backend down")
	})
	Eventually(func() int { return H.Get(ctx, protected, H.Authed()).Status }).
		WithTimeout(5*time.Second).WithPolling(100*time.Millisecond).
		Should(Equal(200), "the proxy must serve again once the backend is back")
	// A connection pooled before the outage may fail once; serving again
	// means a full stream soon after, not on the very first try.
	Eventually(func() bool {
		return hasDone(H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, H.Authed()))
	}).WithTimeout(5*time.Second).WithPolling(100*time.Millisecond).Should(BeTrue(), "a full stream after the backend came back")
})

// tokenNotIn asserts the token is absent from an answer's headers and body.
func tokenNotIn(r Resp, what string) {
	ExpectWithOffset(1, string(r.Body)).NotTo(ContainSubstring(H.Token), "%s: the body contains the token", what)
	for k, vs := range r.Header {
		for _, v := range vs {
			ExpectWithOffset(1, v).NotTo(ContainSubstring(H.Token), "%s: header %s contains the token", what, k)
		}
	}
}

var _ = Requirement("ERR-006", func(ctx SpecContext) {
	near := H.Token[:len(H.Token)-1]
	tokenNotIn(H.Get(ctx, protected), "a 401 without a token")
	tokenNotIn(H.Get(ctx, protected, Bearer(near)), "a 401 for a near-miss token")
	tokenNotIn(H.Get(ctx, protected, Bearer(H.Token+"x")), "a 401 for the token plus a character")
	tokenNotIn(H.Get(ctx, protected, H.Authed()), "a forwarded 200")
	tokenNotIn(H.PostJSON(ctx, "/api/show", `{"model":"nope"}`, H.Authed()), "a forwarded 404")
	H.BackendDown(func() { tokenNotIn(H.Get(ctx, protected, H.Authed()), "a 502") })
})

// traffic sends a mix of accepted, refused and failing requests.
func traffic(ctx SpecContext, wrong string) {
	H.Get(ctx, protected, H.Authed())
	H.Get(ctx, "/api/tags")
	H.Get(ctx, protected+"?token="+wrong)
	H.Get(ctx, protected, Bearer(wrong))
	H.Get(ctx, protected, Auth("Basic "+wrong))
	H.PostJSON(ctx, "/api/show", `{"model":"nope"}`, H.Authed())
	H.Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, H.Authed())
	H.BackendDown(func() { H.Get(ctx, protected, H.Authed()) })
	time.Sleep(100 * time.Millisecond) // let asynchronous log lines land
}

var _ = Requirement("ERR-007", func(ctx SpecContext) {
	traffic(ctx, NewToken())
	out := H.Proxy.Output()
	Expect(strings.Count(out, H.Token)).To(BeZero(), "the proxy printed its token (%d times) in %d bytes of output", strings.Count(out, H.Token), len(out))
})

var _ = Requirement("ERR-008", func(ctx SpecContext) {
	wrong := NewToken()
	traffic(ctx, wrong)
	out := H.Proxy.Output()
	Expect(strings.Count(out, wrong)).To(BeZero(), "the proxy printed a client's wrong token %d times", strings.Count(out, wrong))
})
