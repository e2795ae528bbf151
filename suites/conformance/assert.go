package conformance

import (
	"encoding/json"
	"fmt"
	"strings"

	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/mockollama"
)

// ExpectRejected asserts a 401 that never reached the backend.
func ExpectRejected(r Resp, what string) {
	ExpectWithOffset(1, r.Err).NotTo(HaveOccurred(), "%s: the proxy gave no answer", what)
	ExpectWithOffset(1, r.Status).To(Equal(401), "%s: expected 401, got %s", what, r)
	ExpectNotReached(r.Tag, what)
}

// ExpectNotReached asserts the backend recorded nothing for tag.
func ExpectNotReached(tag, what string) {
	seen := H.Seen(tag)
	ExpectWithOffset(1, seen).To(BeEmpty(), "%s: expected the request never to reach the backend, but it arrived as %s", what, describeSeen(seen))
}

// ExpectForwarded asserts a 200 that the backend saw exactly once.
func ExpectForwarded(r Resp, what string) {
	ExpectWithOffset(1, r.Err).NotTo(HaveOccurred(), "%s: the proxy gave no answer", what)
	ExpectWithOffset(1, r.Status).To(Equal(200), "%s: expected 200 from the backend, got %s", what, r)
	ExpectWithOffset(1, H.Seen(r.Tag)).To(HaveLen(1), "%s: expected the backend to see the request once", what)
}

// ExpectOllamaError asserts a JSON body shaped {"error": "..."}.
func ExpectOllamaError(header interface{ Get(string) string }, body []byte, what string) {
	ExpectWithOffset(1, header.Get("Content-Type")).To(HavePrefix("application/json"), "%s: Content-Type", what)
	var e struct {
		Error *string `json:"error"`
	}
	err := json.Unmarshal(body, &e)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s: expected a JSON body, got %s", what, clip(body, 200))
	ExpectWithOffset(1, e.Error).NotTo(BeNil(), "%s: expected an \"error\" field in %s", what, clip(body, 200))
	ExpectWithOffset(1, *e.Error).NotTo(BeEmpty(), "%s: the error message is empty", what)
}

// exactTags reports whether a backend entry is exactly GET /api/tags.
func exactTags(method, uri string) bool { return method == "GET" && uri == "/api/tags" }

// ExpectRejectedOrExactTags asserts the exemption-bypass rule: a 401 (or, when
// allow4xx, any 4xx) or a backend that saw nothing but GET /api/tags.
func ExpectRejectedOrExactTags(r RawResp, variant string, allow4xx bool) {
	seen := H.Seen(r.Tag)
	for _, e := range seen {
		ExpectWithOffset(1, exactTags(e.Method, e.RequestURI)).To(BeTrue(),
			"variant %s reached the backend without a token as %s %s (only exactly GET /api/tags may)", variant, e.Method, e.RequestURI)
	}
	if len(seen) > 0 {
		return
	}
	if r.Err != nil {
		// A proxy that drops the connection on garbage is safe, if terse.
		return
	}
	if allow4xx {
		ExpectWithOffset(1, r.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)),
			"variant %s: expected a 4xx rejection, got %d", variant, r.Status)
		return
	}
	ExpectWithOffset(1, r.Status).To(Equal(401), "variant %s: expected 401, got %d %s", variant, r.Status, clip(r.Body, 120))
}

func describeSeen(es []mockollama.Entry) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%s %s", e.Method, e.RequestURI))
	}
	return strings.Join(parts, ", ")
}
