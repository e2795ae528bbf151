package proxy

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestParseBearer(t *testing.T) {
	tests := []struct {
		in    string
		token string
		ok    bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"BeArEr abc", "abc", true},
		{"Bearer    abc", "abc", true},
		{"Bearer a-b.c_d~e+f/g==", "a-b.c_d~e+f/g==", true},
		{"Bearer abc=", "abc=", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer   ", "", false},
		{"Bearerabc", "", false},
		{"Bearer\tabc", "", false},
		{"Bearer abc ", "", false},
		{" Bearer abc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc,", "", false},
		{"Bearer =abc", "", false},
		{"Bearer ab=c", "", false},
		{"Bearer ===", "", false},
		{"Bearer abc\x00", "", false},
		{"Bearer abc\xff", "", false},
		{"Bearer \xc3\xa9t\xc3\xa9", "", false},
		{"Bearer \"abc\"", "", false},
		{"Basic abc", "", false},
		{"Bearerx abc", "", false},
		{"Bear abc", "", false},
		{"abc", "", false},
		{"", "", false},
		{"Beare\u0280 abc", "", false},
	}
	for _, tt := range tests {
		token, ok := ParseBearer(tt.in)
		if token != tt.token || ok != tt.ok {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q, %v", tt.in, token, ok, tt.token, tt.ok)
		}
	}
}

func TestAuthorizedDigest(t *testing.T) {
	want := digestOf("tok")
	for _, tt := range []struct {
		values []string
		ok     bool
	}{
		{nil, false},
		{[]string{"Bearer tok"}, true},
		{[]string{"Bearer tok", "Bearer tok"}, false},
		{[]string{"Bearer to"}, false},
		{[]string{"Bearer tokk"}, false},
		{[]string{"Bearer TOK"}, false},
		{[]string{""}, false},
	} {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		for _, v := range tt.values {
			r.Header.Add("Authorization", v)
		}
		if got := authorized(r, want); got != tt.ok {
			t.Errorf("authorized(%q) = %v, want %v", tt.values, got, tt.ok)
		}
	}
}

// TestAuthMatrix sends every way of not (quite) presenting the token, over a
// raw connection so nothing is normalised, and checks the 401 contract and
// that the backend saw nothing.
func TestAuthMatrix(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr(), HealthExempt: true})
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + testToken))
	tests := []struct {
		name    string
		method  string
		target  string
		headers []string
	}{
		{"missing", "POST", "/api/generate", nil},
		{"wrong token", "POST", "/api/generate", []string{"Authorization: Bearer wrong"}},
		{"prefix", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken[:len(testToken)-3]}},
		{"suffix", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken + "x"}},
		{"extra padding", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken + "="}},
		{"first char dropped", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken[1:]}},
		{"upper-cased", "POST", "/api/generate", []string{"Authorization: Bearer " + strings.ToUpper(testToken)}},
		{"lower-cased", "POST", "/api/generate", []string{"Authorization: Bearer " + strings.ToLower(testToken)}},
		{"empty bearer", "POST", "/api/generate", []string{"Authorization: Bearer "}},
		{"bare scheme", "POST", "/api/generate", []string{"Authorization: Bearer"}},
		{"empty header", "POST", "/api/generate", []string{"Authorization:"}},
		{"basic", "POST", "/api/generate", []string{"Authorization: Basic " + basic}},
		{"basic with raw token", "POST", "/api/generate", []string{"Authorization: Basic " + testToken}},
		{"token without scheme", "POST", "/api/generate", []string{"Authorization: " + testToken}},
		{"other scheme", "POST", "/api/generate", []string{"Authorization: Token " + testToken}},
		{"scheme glued", "POST", "/api/generate", []string{"Authorization: Bearer" + testToken}},
		{"tab separator", "POST", "/api/generate", []string{"Authorization: Bearer\t" + testToken}},
		{"comma list", "POST", "/api/generate", []string{"Authorization: Bearer wrong, Bearer " + testToken}},
		{"token twice", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken + " " + testToken}},
		{"quoted", "POST", "/api/generate", []string{`Authorization: Bearer "` + testToken + `"`}},
		{"two headers both right", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken, "Authorization: Bearer " + testToken}},
		{"two headers right then wrong", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken, "Authorization: Bearer wrong"}},
		{"two headers wrong then right", "POST", "/api/generate", []string{"Authorization: Bearer wrong", "authorization: Bearer " + testToken}},
		{"non-ascii suffix", "POST", "/api/generate", []string{"Authorization: Bearer " + testToken + "\xff"}},
		{"non-ascii prefix", "POST", "/api/generate", []string{"Authorization: Bearer \xc3\xa9" + testToken}},
		{"utf8 scheme", "POST", "/api/generate", []string{"Authorization: B\xc3\xa9arer " + testToken}},
		{"token in query", "POST", "/api/generate?token=" + testToken, nil},
		{"token in access_token query", "GET", "/api/ps?access_token=" + testToken, nil},
		{"token in x-api-key", "POST", "/api/generate", []string{"X-Api-Key: " + testToken}},
		{"token in proxy-authorization", "POST", "/api/generate", []string{"Proxy-Authorization: Bearer " + testToken}},
		{"token in cookie", "POST", "/api/generate", []string{"Cookie: token=" + testToken}},
		{"token in path", "GET", "/" + testToken + "/api/ps", nil},
		{"OPTIONS without token", "OPTIONS", "/api/generate", []string{"Origin: http://evil.example", "Access-Control-Request-Method: POST"}},
		{"HEAD without token", "HEAD", "/api/version", nil},
		{"DELETE without token", "DELETE", "/api/delete", nil},
		{"OPTIONS star", "OPTIONS", "*", nil},
		{"absolute-form without token", "POST", "http://127.0.0.1:11434/api/generate", nil},
		{"openai path", "POST", "/v1/chat/completions", []string{"Authorization: Bearer wrong"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(be.requests())
			resp, body := rawResponse(t, p.addr, rawReq(tt.method, tt.target, tt.headers...))
			assertUnauthorized(t, resp, body, tt.method == "HEAD")
			if strings.Contains(string(body), testToken) || strings.Contains(resp.Header.Get("WWW-Authenticate"), testToken) {
				t.Error("response echoes the token")
			}
			if got := be.requests(); len(got) != before {
				t.Errorf("backend saw %+v", got[before:])
			}
		})
	}
	if strings.Contains(p.logs.String(), testToken) {
		t.Error("token appears in the logs")
	}
}

// TestAuthMalformedNeverReachesBackend covers requests net/http itself
// refuses (400) before the handler: they must never reach the backend either.
func TestAuthMalformedNeverReachesBackend(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	for _, raw := range []string{
		"POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer " + testToken + "\r\n\r\n",
		"POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken + "\x00\r\n\r\n",
		"POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthori\xffzation: Bearer " + testToken + "\r\n\r\n",
		"POST /api/generate HTTP/1.1\r\nHost: x\r\nHost: y\r\nAuthorization: Bearer wrong\r\n\r\n",
	} {
		resp, _ := rawResponse(t, p.addr, raw)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%q: status %d, want 4xx", raw, resp.StatusCode)
		}
	}
	if got := be.requests(); len(got) != 0 {
		t.Errorf("backend saw %+v", got)
	}
}

// TestAuthAccepted checks the spellings that must pass.
func TestAuthAccepted(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	for _, h := range []string{
		"Authorization: Bearer " + testToken,
		"Authorization: bearer " + testToken,
		"Authorization: BEARER " + testToken,
		"Authorization: Bearer    " + testToken,
		"authorization: Bearer " + testToken,
		"Authorization:   Bearer " + testToken + "  ",
	} {
		for _, method := range []string{"GET", "HEAD", "OPTIONS", "POST"} {
			resp, _ := rawResponse(t, p.addr, rawReq(method, "/api/version", h))
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s with %q: status %d, want 200", method, h, resp.StatusCode)
			}
		}
	}
}

func TestSetToken(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	get := func(token string) int {
		req, _ := http.NewRequest("GET", p.url("/api/version"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(testToken); got != 200 {
		t.Fatalf("old token before rotation: %d", got)
	}
	if err := p.handler.SetToken(""); err == nil {
		t.Fatal("SetToken(\"\") accepted")
	}
	if err := p.handler.SetToken("bad token"); err == nil {
		t.Fatal("SetToken with a space accepted")
	}
	if err := p.handler.SetToken("n3w-token"); err != nil {
		t.Fatal(err)
	}
	if got := get(testToken); got != 401 {
		t.Errorf("old token after rotation: %d, want 401", got)
	}
	if got := get("n3w-token"); got != 200 {
		t.Errorf("new token: %d, want 200", got)
	}
}
