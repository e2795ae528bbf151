package proxy

import "net/http"

// HealthPath is the only request target the health exemption lets through.
const HealthPath = "/api/tags"

// IsExempt reports whether r is exactly "GET /api/tags": method GET and a raw
// request-target of exactly /api/tags in origin form (no query, no "?", no
// trailing slash, no encoding, no dot segments, not absolute-form). It looks
// at the raw RequestURI, never at a cleaned or decoded path, so every variant
// that a backend might normalise to /api/tags is refused.
func IsExempt(r *http.Request) bool {
	return r.Method == http.MethodGet && r.RequestURI == HealthPath
}
