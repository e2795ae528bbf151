package catalog

// Hostile-input requirements: request smuggling, unusual request targets and
// methods, protocol switches, header abuse and slow clients. Each is judged
// on raw connections, and "nothing reached the backend" is checked both by
// tag and by counting every request the mock recorded (a smuggled request
// carries no harness tag).

func init() {
	declare("hostile",
		Requirement{ID: "HOST-001", Level: Must, Text: "A request carrying both Content-Length and Transfer-Encoding MUST get a 4xx (or 501) or be forwarded with one unambiguous framing, and no request hidden in its body MUST reach the backend."},
		Requirement{ID: "HOST-002", Level: Must, Text: "A request with conflicting Content-Length values (two different headers, a list, a sign, non-digits) MUST get 400 and MUST NOT reach the backend, even with the token."},
		Requirement{ID: "HOST-003", Level: Must, Text: "Obfuscated Transfer-Encoding values (`Chunked`, ` chunked`, `chunked, identity`, `xchunked`, two Transfer-Encoding headers, a space before the colon) MUST get a 4xx (or 501) or be framed as the backend frames them, so that no request hidden in the body reaches the backend."},
		Requirement{ID: "HOST-004", Level: Must, Text: "Header lines folded with obs-fold MUST be rejected with 400 or unfolded before the proxy interprets them (RFC 9112 §5.2), so that a folded Transfer-Encoding or Authorization never smuggles a request to the backend."},
		Requirement{ID: "HOST-005", Level: Must, Text: "An HTTP/1.0 request with `Transfer-Encoding: chunked` MUST get a 4xx or be framed safely, and no request hidden in its body MUST reach the backend."},
		Requirement{ID: "HOST-006", Level: Must, Text: "A second request smuggled in the body of an unauthenticated request (refused, or the exempt `GET /api/tags`) MUST NOT reach the backend."},
		Requirement{ID: "HOST-007", Level: Must, Text: "An absolute-form request target naming another host MUST NOT turn the proxy into a forward proxy: it MUST get a 4xx or reach only the configured backend, with or without the token."},
		Requirement{ID: "HOST-008", Level: Must, Text: "CONNECT without a token MUST get a 4xx, MUST NOT open a tunnel, and nothing sent after it MUST reach the backend."},
		Requirement{ID: "HOST-009", Level: Must, Text: "`OPTIONS *` without a token MUST NOT reach the backend and MUST NOT get a 5xx."},
		Requirement{ID: "HOST-010", Level: Must, Text: "A WebSocket Upgrade request without a token MUST get 401 (never 101) and MUST NOT reach the backend, except as exactly `GET /api/tags`."},
		Requirement{ID: "HOST-011", Level: Must, Text: "HTTP/2 cleartext without a token (`Upgrade: h2c`, or the prior-knowledge preface) MUST NOT switch protocols and MUST NOT reach the backend."},
		Requirement{ID: "HOST-012", Level: Must, Text: "A header section larger than 2 MiB MUST be refused with 431 (or 400), never 5xx, and the proxy MUST keep serving."},
		Requirement{ID: "HOST-013", Level: Must, Text: "A request with thousands of small header fields MUST get an answer below 500 within 5 s, MUST NOT reach the backend without a token, and the proxy MUST keep serving."},
		Requirement{ID: "HOST-014", Level: Must, Text: "Header injection attempts (NUL, bare CR or LF, whitespace or NUL in a field name, a line without a colon, CR/LF in the request target) MUST get a 4xx or be parsed as the backend parses them: never a 5xx, and nothing unauthenticated may reach the backend but exactly `GET /api/tags`."},
		Requirement{ID: "HOST-015", Level: Must, Text: "A 100 KB Authorization header MUST be rejected cleanly (431, 400 or 401), never 5xx, MUST NOT reach the backend, and the proxy MUST keep serving."},
		Requirement{ID: "HOST-016", Level: Must, Text: "Slowloris clients dribbling request headers MUST NOT delay a concurrent client: its request MUST complete within 2 s."},
		Requirement{ID: "HOST-017", Level: Must, Text: "Slow request-body uploads (authenticated and not) MUST NOT delay a concurrent client: its request MUST complete within 2 s, and the unauthenticated upload MUST get its 401 without sending its body."},
		Requirement{ID: "HOST-018", Level: Should, Text: "A header section of 128 KiB SHOULD be refused with 431 (or 400), never 5xx: Ollama's clients send a few hundred bytes of headers."},
	)
}
