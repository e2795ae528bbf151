package mockollama_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
)

func start(t *testing.T, opts mockollama.Options) *mockollama.Server {
	t.Helper()
	s, err := mockollama.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client has its own transport so connection state never leaks between tests.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableCompression: true}}
}

type resp struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func do(t *testing.T, method, url, body string, hdr map[string]string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	r, err := client().Do(req)
	if err != nil {
		return resp{err: err}
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, header: r.Header, body: b, err: err}
}

// arrival is one line of a stream and when it arrived.
type arrival struct {
	at   time.Time
	line string
}

// streamed is a streamed response read line by line, with arrival times.
type streamed struct {
	resp    *http.Response
	sent    time.Time // request sent
	headers time.Time // status and headers received
	lines   []arrival // non-blank lines (SSE separators dropped)
	body    []byte    // every byte received
	err     error     // transport or read error
}

func (s streamed) gaps() []time.Duration {
	var out []time.Duration
	for i := 1; i < len(s.lines); i++ {
		out = append(out, s.lines[i].at.Sub(s.lines[i-1].at))
	}
	return out
}

func stream(t *testing.T, ctx context.Context, method, url, body string, hdr map[string]string) streamed {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	out := streamed{sent: time.Now()}
	r, err := client().Do(req)
	out.headers = time.Now()
	if err != nil {
		out.err = err
		return out
	}
	defer r.Body.Close()
	out.resp = r
	br := bufio.NewReaderSize(r.Body, 64<<10)
	for {
		l, err := br.ReadBytes('\n')
		out.body = append(out.body, l...)
		if len(bytes.TrimSpace(l)) > 0 {
			out.lines = append(out.lines, arrival{time.Now(), string(bytes.TrimRight(l, "\n"))})
		}
		if err == io.EOF {
			return out
		}
		if err != nil {
			out.err = err
			return out
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func within(t *testing.T, what string, got, lo, hi time.Duration) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %v, want between %v and %v", what, got, lo, hi)
	}
}

const genBody = `{"model":"llama3.2:1b","prompt":"why is the sky blue?"}`
