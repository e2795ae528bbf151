package proxy

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseBearer: never panics; ok implies a bearer scheme, one or more
// spaces, and a token68 with no surrounding space, returned verbatim.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a-b.c_d~e+f/g==", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer\tabc", "Bearer abc ", "Bearer \xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, ok := ParseBearer(header)
		if !ok {
			if token != "" {
				t.Fatalf("!ok with token %q", token)
			}
			return
		}
		if token == "" || strings.TrimSpace(token) != token || strings.ContainsAny(token, " \t\r\n") {
			t.Fatalf("ParseBearer(%q) = %q: space around or inside the token", header, token)
		}
		if !strings.EqualFold(header[:6], "bearer") || header[6] != ' ' {
			t.Fatalf("ParseBearer(%q) ok without a bearer scheme", header)
		}
		if !strings.HasSuffix(header, token) || strings.TrimLeft(header[6:len(header)-len(token)], " ") != "" {
			t.Fatalf("ParseBearer(%q) = %q: not verbatim after the spaces", header, token)
		}
		if !isToken68(token) {
			t.Fatalf("token %q is not token68", token)
		}
	})
}

// FuzzIsExempt: for any method and raw request-target net/http accepts,
// exemption implies exactly GET and /api/tags.
func FuzzIsExempt(f *testing.F) {
	for _, s := range [][2]string{
		{"GET", "/api/tags"}, {"GET", "/api/tags/"}, {"GET", "/api/tags?x=1"}, {"GET", "//api/tags"},
		{"GET", "/api/%74ags"}, {"HEAD", "/api/tags"}, {"GET", "http://h/api/tags"}, {"get", "/api/tags"},
		{"GET", "/api/./tags"}, {"POST", "/api/tags"}, {"GET", "/API/TAGS"}, {"GET", "/api/tags;x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, method, target string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		if IsExempt(r) && (r.Method != "GET" || r.RequestURI != "/api/tags" || r.URL.RawQuery != "" || r.URL.Path != "/api/tags" || r.URL.Host != "") {
			t.Fatalf("exempt: method %q target %q (parsed %q %q)", method, target, r.Method, r.RequestURI)
		}
		if IsExempt(r) != (method == "GET" && target == "/api/tags") {
			t.Fatalf("IsExempt = %v for %q %q", IsExempt(r), method, target)
		}
	})
}
