package conformance

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

const protected = "/api/ps" // a bodiless protected GET the mock answers 200

var _ = Requirement("AUTH-001", func(ctx SpecContext) {
	ExpectRejected(H.Get(ctx, protected), "GET /api/ps without Authorization")
	ExpectRejected(H.PostJSON(ctx, "/api/generate", `{"model":"llama3.2:1b","prompt":"hi"}`), "POST /api/generate without Authorization")
})

var _ = Requirement("AUTH-002", func(ctx SpecContext) {
	ExpectRejected(H.Get(ctx, protected, Bearer(NewToken())), "a random wrong token")
	ExpectRejected(H.Get(ctx, protected, Bearer("x")), "a one-character token")
})

var _ = Requirement("AUTH-003", func(ctx SpecContext) {
	for _, v := range []string{H.Token + "x", H.Token + H.Token, "x" + H.Token, H.Token + "%00", H.Token + ",x"} {
		ExpectRejected(H.Get(ctx, protected, Bearer(v)), "the token with extra characters")
	}
})

var _ = Requirement("AUTH-004", func(ctx SpecContext) {
	t := H.Token
	for _, v := range []string{t[:len(t)-1], t[1:], t[:len(t)/2], t[:1]} {
		ExpectRejected(H.Get(ctx, protected, Bearer(v)), fmt.Sprintf("a %d-character part of the token", len(v)))
	}
})

var _ = Requirement("AUTH-005", func(ctx SpecContext) {
	for _, v := range []string{strings.ToUpper(H.Token), strings.ToLower(H.Token), swapCase(H.Token)} {
		if v == H.Token {
			continue
		}
		ExpectRejected(H.Get(ctx, protected, Bearer(v)), "the token in another letter case")
	}
})

var _ = Requirement("AUTH-006", func(ctx SpecContext) {
	for _, v := range []string{"Bearer", "Bearer ", "Bearer  ", "Bearer \t"} {
		ExpectRejected(H.Get(ctx, protected, Auth(v)), fmt.Sprintf("Authorization %q", v))
	}
	ExpectRejected(H.Get(ctx, protected, Auth("")), "an empty Authorization header")
})

var _ = Requirement("AUTH-007", func(ctx SpecContext) {
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for _, v := range []string{basic("ollama", H.Token), basic(H.Token, ""), "Token " + H.Token, H.Token, "Bearer:" + H.Token, "Digest " + H.Token} {
		ExpectRejected(H.Get(ctx, protected, Auth(v)), "Authorization "+strings.Replace(v, H.Token, "<token>", 1))
	}
})

var _ = Requirement("AUTH-008", func(ctx SpecContext) {
	good, bad := "Bearer "+H.Token, "Bearer "+NewToken()
	for _, pair := range [][2]string{{bad, good}, {good, bad}, {good, good}} {
		r := H.Raw(ctx, "GET "+protected+" HTTP/1.1", "Authorization: "+pair[0], "Authorization: "+pair[1])
		Expect(r.Err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(401), "two Authorization headers: expected 401, got %d", r.Status)
		ExpectNotReached(r.Tag, "a request with two Authorization headers")
	}
})

var _ = Requirement("AUTH-009", func(ctx SpecContext) {
	values := []string{
		"Bearer " + H.Token + "\xe9", "Bearer \xff\xfe" + H.Token, "Bearer " + H.Token[:4] + "\xc3\xa9" + H.Token[4:],
		"Bearer \x01" + H.Token, "Bearer " + H.Token + "\x7f", "B\xe9arer " + H.Token,
	}
	for _, v := range values {
		r := H.Raw(ctx, "GET "+protected+" HTTP/1.1", "Authorization: "+v)
		if r.Err == nil {
			Expect(r.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)),
				"Authorization %q: expected a 4xx rejection, got %d", v, r.Status)
		}
		ExpectNotReached(r.Tag, fmt.Sprintf("Authorization %q", v))
	}
	ExpectForwarded(H.Get(ctx, protected, H.Authed()), "a valid request after the binary ones")
})

var _ = Requirement("AUTH-010", func(ctx SpecContext) {
	r := H.Get(ctx, protected, H.Authed())
	ExpectForwarded(r, "GET /api/ps with the token")
	Expect(string(r.Body)).To(ContainSubstring(`"models"`), "the backend's /api/ps answer")
	g := H.PostJSON(ctx, "/api/generate", `{"model":"llama3.2:1b","prompt":"hello","stream":false}`, H.Authed())
	ExpectForwarded(g, "POST /api/generate with the token")
})

var _ = Requirement("AUTH-011", func(ctx SpecContext) {
	for _, scheme := range []string{"bearer", "BEARER", "bEaReR"} {
		ExpectForwarded(H.Get(ctx, protected, Auth(scheme+" "+H.Token)), "scheme written "+scheme)
	}
})

var _ = Requirement("AUTH-012", func(ctx SpecContext) {
	r := H.Get(ctx, protected)
	Expect(r.Status).To(Equal(401))
	Expect(strings.ToLower(r.Header.Get("WWW-Authenticate"))).To(HavePrefix("bearer"),
		"WWW-Authenticate on a 401: expected the Bearer scheme, got %q", r.Header.Get("WWW-Authenticate"))
})

var _ = Requirement("AUTH-013", func(ctx SpecContext) {
	r := H.Get(ctx, protected, Bearer(NewToken()))
	Expect(r.Status).To(Equal(401))
	ExpectOllamaError(r.Header, r.Body, "the 401 body")
})

var _ = Requirement("AUTH-014", func(ctx SpecContext) {
	t := H.Token
	ExpectRejected(H.Get(ctx, protected+"?token="+t), "the token in ?token=")
	ExpectRejected(H.Get(ctx, protected+"?access_token="+t), "the token in ?access_token=")
	ExpectRejected(H.Get(ctx, protected, Header("X-Api-Key", t)), "the token in X-Api-Key")
	ExpectRejected(H.Get(ctx, protected, Header("Proxy-Authorization", "Bearer "+t)), "the token in Proxy-Authorization")
	ExpectRejected(H.Get(ctx, protected, Header("Cookie", "token="+t)), "the token in a cookie")
	ExpectRejected(H.Get(ctx, protected, Header("X-Authorization", "Bearer "+t)), "the token in X-Authorization")
})

var _ = Requirement("AUTH-015", func(ctx SpecContext) {
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
		r := H.Do(ctx, m, "/api/generate", nil, Header("Origin", "http://evil.example"), Header("Access-Control-Request-Method", "POST"))
		ExpectRejected(r, m+" /api/generate without a token")
	}
	ExpectRejected(H.Do(ctx, "DELETE", "/api/delete", strings.NewReader(`{"model":"llama3.2:1b"}`)), "DELETE /api/delete without a token")
})

var _ = Requirement("AUTH-016", func(ctx SpecContext) {
	c, err := net.DialTimeout("tcp", H.Proxy.Addr(), 3*time.Second)
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	send := func(auth string) (int, string) {
		tag := newTag()
		req := "GET " + protected + " HTTP/1.1\r\nHost: " + H.Proxy.Addr() + "\r\n" + TagHeader + ": " + tag + "\r\n"
		if auth != "" {
			req += "Authorization: " + auth + "\r\n"
		}
		_, err := c.Write([]byte(req + "\r\n"))
		Expect(err).NotTo(HaveOccurred())
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, tag // the proxy closed the connection: the next request is not served
		}
		drain(res)
		return res.StatusCode, tag
	}
	st, _ := send("Bearer " + H.Token)
	Expect(st).To(Equal(200), "the first, authenticated request on the connection")
	st, tag := send("")
	if st != 0 {
		Expect(st).To(Equal(401), "a tokenless request on a connection that authenticated before: expected 401, got %d", st)
	}
	ExpectNotReached(tag, "a tokenless request on an authenticated keep-alive connection")
})

func drain(res *http.Response) {
	buf := make([]byte, 4096)
	for {
		if _, err := res.Body.Read(buf); err != nil {
			break
		}
	}
	res.Body.Close()
}

func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 32
		case c >= 'A' && c <= 'Z':
			b[i] = c + 32
		}
	}
	return string(b)
}
