package conformance

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The exemption bypass catalogue: each variant, sent without a token, must be
// refused or reach the backend as exactly GET /api/tags.
var (
	tagsMethodVariants = []string{"HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "Get", "FOO"}
	tagsSuffixVariants = []string{
		"/api/tags/", "/api/tags?", "/api/tags?x=1", "/api/tags?model=x&insecure=true", "/api/tags/x",
		"/api/tags/../generate", "/api/tags/../ps", "/api/tags#frag", "/api/tagsx", "/api/tags.json",
		"/api/tags/.", "/api/tags//",
	}
	tagsCaseVariants    = []string{"/API/TAGS", "/api/Tags", "/Api/tags", "/api/TAGS", "/API/tags"}
	tagsEncodedVariants = []string{
		"/api/%74ags", "/api/t%61gs", "/%61pi/tags", "/api%2Ftags", "/api%2ftags", "/api/tags%2F", "/api/tags%2f..%2fps",
		"/%2e/api/tags", "/api/%2e/tags", "/api/tags%3F", "/api/tags%23", "/api/%2574ags", "/api/tags%2e",
	}
	tagsSlashVariants = []string{
		"//api/tags", "/api//tags", "///api/tags", "/./api/tags", "/api/./tags", "/x/../api/tags",
		"/api/x/../tags", "/api/tags/./", "/../api/tags", "/api/tags/..;/ps",
	}
	tagsDelimiterVariants = []string{"/api/tags;x", "/api/tags;", "/api;/tags", "/api/tags%00", "/api/tags%20", "/api/tags%09", "/api\\tags", "/api/tags\\", "/api/tags%5c"}
	absoluteFormVariants  = []string{
		"http://127.0.0.1/api/ps", "http://localhost/api/ps?x=/api/tags", "http://host/api/tags/../ps",
		"http://host/api/ps#/api/tags", "http://host/api/generate?/api/tags", "http://host/api/tags",
		"http://host:1/api/ps/api/tags",
	}
)

func bypass(ctx SpecContext, method string, targets []string, allow4xx bool) {
	for _, t := range targets {
		r := H.Raw(ctx, method+" "+t+" HTTP/1.1")
		ExpectRejectedOrExactTags(r, method+" "+t, allow4xx)
	}
}

var _ = Requirement("HLTH-001", func(ctx SpecContext) {
	r := H.Get(ctx, "/api/tags")
	Expect(r.Err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(200), "GET /api/tags without a token: expected 200, got %s", r)
	Expect(string(r.Body)).To(ContainSubstring(`"models"`), "the backend's model list")
	e, ok := H.SeenOne(r.Tag)
	Expect(ok).To(BeTrue(), "the backend never saw GET /api/tags")
	Expect(e.Method + " " + e.RequestURI).To(Equal("GET /api/tags"))
})

var _ = Requirement("HLTH-002", func(ctx SpecContext) {
	ExpectRejected(H.PostJSON(ctx, "/api/tags", `{}`), "POST /api/tags without a token")
})

var _ = Requirement("HLTH-003", func(ctx SpecContext) {
	for _, m := range tagsMethodVariants {
		ExpectRejectedOrExactTags(H.Raw(ctx, m+" /api/tags HTTP/1.1"), m+" /api/tags", false)
	}
})

var _ = Requirement("HLTH-004", func(ctx SpecContext) { bypass(ctx, "GET", tagsSuffixVariants, false) })
var _ = Requirement("HLTH-005", func(ctx SpecContext) { bypass(ctx, "GET", tagsCaseVariants, false) })
var _ = Requirement("HLTH-006", func(ctx SpecContext) { bypass(ctx, "GET", tagsEncodedVariants, true) })
var _ = Requirement("HLTH-007", func(ctx SpecContext) { bypass(ctx, "GET", tagsSlashVariants, true) })
var _ = Requirement("HLTH-008", func(ctx SpecContext) {
	bypass(ctx, "GET", tagsDelimiterVariants, true)
	// Raw bytes HTTP forbids in a request target: a 400 is a fine answer.
	for _, t := range []string{"/api/tags\x00", "/api/tags\t", "/api/tags x"} {
		ExpectRejectedOrExactTags(H.Raw(ctx, "GET "+t+" HTTP/1.1"), "GET "+strings.TrimSpace(t)+"<ctl>", true)
	}
})

var _ = Requirement("HLTH-009", func(ctx SpecContext) { bypass(ctx, "GET", absoluteFormVariants, true) })

var _ = Requirement("HLTH-010", func(ctx SpecContext) {
	for _, p := range []string{"/", "/api/version", "/api/ps", "/v1/models", "/api/show"} {
		ExpectRejected(H.Get(ctx, p), "GET "+p+" without a token")
	}
	ExpectRejected(H.Do(ctx, "HEAD", "/", nil), "HEAD / without a token")
})

// BypassVariantCount is the size of the exemption bypass catalogue.
func BypassVariantCount() int {
	return len(tagsMethodVariants) + len(tagsSuffixVariants) + len(tagsCaseVariants) + len(tagsEncodedVariants) +
		len(tagsSlashVariants) + len(tagsDelimiterVariants) + 3 + len(absoluteFormVariants)
}

var _ = Requirement("STRC-001", func(ctx SpecContext) {
	ExpectRejected(H.Get(ctx, "/api/tags"), "GET /api/tags without a token under strict-auth")
})

var _ = Requirement("STRC-002", func(ctx SpecContext) {
	r := H.Get(ctx, "/api/tags", H.Authed())
	ExpectForwarded(r, "GET /api/tags with the token under strict-auth")
	Expect(string(r.Body)).To(ContainSubstring(`"models"`))
})
