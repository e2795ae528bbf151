package lifecycle

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ProbePath is a path every profile protects (the health exemption covers
// only GET /api/tags), so a 401 without the token proves authentication.
const ProbePath = "/api/version"

// Probe is what a proxy port answered.
type Probe struct {
	Listening    bool `json:"listening"`
	Unauthorized int  `json:"status_without_token"` // 0: no HTTP answer
	WithToken    int  `json:"status_with_token"`    // 0: no HTTP answer, or not asked
}

// AuthProxy reports whether the port demands a token (401 without one).
func (p Probe) AuthProxy() bool { return p.Unauthorized == http.StatusUnauthorized }

// Accepts reports whether the token got past authentication (any answer but
// 401 or 403: a 502 means the proxy took the token but Ollama is down).
func (p Probe) Accepts() bool {
	return p.WithToken != 0 && p.WithToken != http.StatusUnauthorized && p.WithToken != http.StatusForbidden
}

// Ready is the readiness pair: 401 without the token, and the token accepted.
func (p Probe) Ready() bool { return p.AuthProxy() && p.Accepts() }

var probeClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: time.Second}).DialContext},
	Timeout:       3 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// ProbePort asks 127.0.0.1:port for ProbePath without a token and, when
// token is not empty, with it.
func ProbePort(ctx context.Context, port int, token string) Probe {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var p Probe
	c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return p
	}
	_ = c.Close()
	p.Listening = true
	p.Unauthorized = get(ctx, "http://"+addr+ProbePath, "")
	if token != "" {
		p.WithToken = get(ctx, "http://"+addr+ProbePath, token)
	}
	return p
}

func get(ctx context.Context, url, token string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode
}
