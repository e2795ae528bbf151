package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// ParseBearer parses an Authorization header value of the form
// "Bearer <token68>". The scheme is matched case-insensitively (RFC 7235),
// followed by one or more spaces; the token68 is returned verbatim. Anything
// else (other schemes, a missing or malformed token, trailing bytes) is !ok.
func ParseBearer(header string) (token string, ok bool) {
	const scheme = "bearer"
	if len(header) < len(scheme)+2 {
		return "", false
	}
	for i := 0; i < len(scheme); i++ {
		c := header[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != scheme[i] {
			return "", false
		}
	}
	rest := header[len(scheme):]
	if rest[0] != ' ' {
		return "", false
	}
	i := 0
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	token = rest[i:]
	if !isToken68(token) {
		return "", false
	}
	return token, true
}

// isToken68 reports whether s matches RFC 7235's
// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for i < len(s) && isToken68Char(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/':
		return true
	}
	return false
}

// tokenDigest is what the handler keeps instead of the token: comparing
// fixed-size digests in constant time leaks neither content nor length.
type tokenDigest [sha256.Size]byte

func digestOf(token string) *tokenDigest {
	d := tokenDigest(sha256.Sum256([]byte(token)))
	return &d
}

// authorized reports whether r carries exactly one Authorization header whose
// Bearer token equals the expected one.
func authorized(r *http.Request, want *tokenDigest) bool {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return false
	}
	token, ok := ParseBearer(values[0])
	if !ok {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
