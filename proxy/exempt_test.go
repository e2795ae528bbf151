package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

func TestIsExempt(t *testing.T) {
	tests := []struct {
		raw  string // request line
		want bool
	}{
		{"GET /api/tags HTTP/1.1", true},
		{"GET /api/tags HTTP/1.0", true},
		{"HEAD /api/tags HTTP/1.1", false},
		{"POST /api/tags HTTP/1.1", false},
		{"get /api/tags HTTP/1.1", false},
		{"GET /api/tags/ HTTP/1.1", false},
		{"GET /api/tags? HTTP/1.1", false},
		{"GET /api/tags?x=1 HTTP/1.1", false},
		{"GET //api/tags HTTP/1.1", false},
		{"GET /api/%74ags HTTP/1.1", false},
		{"GET http://h/api/tags HTTP/1.1", false},
	}
	for _, tt := range tests {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw + "\r\nHost: h\r\n\r\n")))
		if err != nil {
			t.Fatalf("%q: %v", tt.raw, err)
		}
		if got := IsExempt(r); got != tt.want {
			t.Errorf("IsExempt(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
	// A client-side request has no RequestURI: never exempt.
	r, _ := http.NewRequest("GET", "http://h/api/tags", nil)
	if IsExempt(r) {
		t.Error("client request with empty RequestURI is exempt")
	}
}

// TestExemptionMatrix tries every variant of GET /api/tags a backend might
// normalise, without a token: only the exact one may pass, and it must reach
// the backend as exactly GET /api/tags.
func TestExemptionMatrix(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr(), HealthExempt: true})

	resp, _ := rawResponse(t, p.addr, rawReq("GET", "/api/tags"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exact GET /api/tags: %d, want 200", resp.StatusCode)
	}
	seen := be.requests()
	if len(seen) != 1 || seen[0].Method != "GET" || seen[0].RequestURI != "/api/tags" {
		t.Fatalf("backend saw %+v, want exactly GET /api/tags", seen)
	}

	variants := []struct{ method, target string }{
		{"GET", "/api/tags/"},
		{"GET", "/api/tags?x=1"},
		{"GET", "/api/tags?"},
		{"GET", "/api/tags?%00"},
		{"GET", "//api/tags"},
		{"GET", "/api//tags"},
		{"GET", "/api/tags;x"},
		{"GET", "/api;x/tags"},
		{"GET", "/api/%74ags"},
		{"GET", "/%61pi/tags"},
		{"GET", "/api/tag%73"},
		{"GET", "/API/TAGS"},
		{"GET", "/api/Tags"},
		{"GET", "/api/./tags"},
		{"GET", "/./api/tags"},
		{"GET", "/x/../api/tags"},
		{"GET", "/api/tags/."},
		{"GET", "/api/tags/.."},
		{"GET", "/api/tags/../generate"},
		{"GET", "/api/tags/%2e%2e/generate"},
		{"GET", "/api%2Ftags"},
		{"GET", "/api%2ftags"},
		{"GET", "/api/tags%2F"},
		{"GET", "/api/tags%00"},
		{"GET", "/api/tags%20"},
		{"GET", "/api/tags%3F"},
		{"GET", "/api/tags.json"},
		{"GET", "/api/tagsx"},
		{"GET", "/api/tag"},
		{"GET", "/api/tags#frag"},
		{"GET", "\\api\\tags"},
		{"GET", "http://h/api/tags"},
		{"GET", "http://127.0.0.1:11434/api/tags"},
		{"GET", "HTTP://H/api/tags"},
		{"HEAD", "/api/tags"},
		{"POST", "/api/tags"},
		{"PUT", "/api/tags"},
		{"DELETE", "/api/tags"},
		{"OPTIONS", "/api/tags"},
		{"PATCH", "/api/tags"},
		{"TRACE", "/api/tags"},
		{"CONNECT", "/api/tags"},
		{"get", "/api/tags"},
		{"Get", "/api/tags"},
		{"GETX", "/api/tags"},
	}
	for _, v := range variants {
		t.Run(v.method+" "+v.target, func(t *testing.T) {
			before := len(be.requests())
			resp, body := rawResponse(t, p.addr, rawReq(v.method, v.target))
			if resp.StatusCode != http.StatusBadRequest { // net/http may refuse to parse some
				assertUnauthorized(t, resp, body, v.method == "HEAD")
			}
			if got := be.requests(); len(got) != before {
				t.Errorf("backend saw %+v", got[before:])
			}
		})
	}

	// A POST with a body to the exact path still needs the token.
	resp, body := rawResponse(t, p.addr, "POST /api/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	assertUnauthorized(t, resp, body, false)
}

func TestExemptionOffInStrictMode(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr(), HealthExempt: false})
	resp, body := rawResponse(t, p.addr, rawReq("GET", "/api/tags"))
	assertUnauthorized(t, resp, body, false)
	if got := be.requests(); len(got) != 0 {
		t.Errorf("backend saw %+v", got)
	}
	resp, _ = rawResponse(t, p.addr, rawReq("GET", "/api/tags", "Authorization: Bearer "+testToken))
	if resp.StatusCode != 200 {
		t.Errorf("with token: %d", resp.StatusCode)
	}
}
