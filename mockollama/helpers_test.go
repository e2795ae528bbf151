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

// streamLines reads a streamed response line by line (blank SSE separators
// dropped), recording arrival times relative to nothing in particular.
func streamLines(t *testing.T, ctx context.Context, method, url, body string, hdr map[string]string) (*http.Response, []arrival, time.Time, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sent := time.Now()
	r, err := client().Do(req)
	if err != nil {
		return nil, nil, sent, err
	}
	defer r.Body.Close()
	var out []arrival
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		out = append(out, arrival{time.Now(), sc.Text()})
	}
	return r, out, sent, sc.Err()
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
