package mockollama_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
)

func generateText(t *testing.T, s *mockollama.Server, model, prompt string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"model": model, "prompt": prompt, "stream": false})
	r := do(t, "POST", s.URL+"/api/generate", string(b), nil)
	var out struct{ Response string }
	if r.status != 200 || json.Unmarshal(r.body, &out) != nil {
		t.Fatalf("generate: %d %s %v", r.status, r.body, r.err)
	}
	return out.Response
}

func TestDeterminism(t *testing.T) {
	a := start(t, mockollama.Options{Seed: 42})
	b := start(t, mockollama.Options{Seed: 42})
	c := start(t, mockollama.Options{Seed: 43})
	x := generateText(t, a, "llama3.2:1b", "hello")
	if y := generateText(t, b, "llama3.2:1b", "hello"); x != y {
		t.Errorf("same seed, model, prompt: %q vs %q", x, y)
	}
	if y := generateText(t, a, "llama3.2:1b", "hello!"); x == y {
		t.Error("different prompt, same text")
	}
	if y := generateText(t, a, "qwen2.5:0.5b", "hello"); x == y {
		t.Error("different model, same text")
	}
	if y := generateText(t, c, "llama3.2:1b", "hello"); x == y {
		t.Error("different seed, same text")
	}
	// Streamed text does not depend on the chunk count.
	for _, n := range []string{"1", "3", "50"} {
		st := stream(t, t.Context(), "POST", a.URL+"/api/generate", `{"model":"llama3.2:1b","prompt":"hello"}`, map[string]string{"X-Mock-Chunks": n})
		var text strings.Builder
		for _, l := range st.lines {
			var g struct{ Response string }
			_ = json.Unmarshal([]byte(l.line), &g)
			text.WriteString(g.Response)
		}
		if text.String() != x || fmt.Sprint(len(st.lines)-1) != n {
			t.Errorf("chunks=%s: %d lines, text %q", n, len(st.lines), text.String())
		}
	}
}

func TestHostCheck(t *testing.T) {
	s := start(t, mockollama.Options{})
	_, port, _ := net.SplitHostPort(s.Addr)
	for host, want := range map[string]int{
		"127.0.0.1:" + port: 200, "127.0.0.1": 200, "localhost": 200, "LOCALHOST:" + port: 200, "[::1]:" + port: 200,
		"foo.internal": 200, "host.docker.internal:11434": 200, "printer.local": 200, "app.localhost": 200, "127.9.9.9": 200,
		"evil.example": 403, "evil.example:" + port: 403, "10.0.0.1": 403, "0.0.0.0": 403, "192.168.1.2:" + port: 403,
		"internal": 403, "localhost.evil.com": 403,
	} {
		tag := "host-" + host
		r := do(t, "GET", s.URL+"/api/tags", "", map[string]string{"Host": host, "X-Tollgate-Tag": tag})
		if r.status != want {
			t.Errorf("Host %q: %d, want %d", host, r.status, want)
		}
		es := s.Record().ByTag(tag)
		if len(es) != 1 || es[0].Host != host || es[0].Status != want {
			t.Errorf("Host %q: record %+v", host, es)
		}
	}
}

func TestRecord(t *testing.T) {
	s := start(t, mockollama.Options{})
	body := `{"model":"llama3.2:1b","prompt":"` + strings.Repeat("y", 5000) + `","stream":false}`
	r := do(t, "POST", s.URL+"/api/generate?a=1&b=two", body, map[string]string{"X-Tollgate-Tag": "t1", "X-Custom": "v"})
	if r.status != 200 {
		t.Fatal(r.status)
	}
	do(t, "GET", s.URL+"/api/version", "", map[string]string{"X-Tollgate-Tag": "t2"})
	do(t, "GET", s.URL+"/api/version", "", map[string]string{"X-Tollgate-Tag": "t2"})

	if s.Record().Len() != 3 || len(s.Record().All()) != 3 {
		t.Fatalf("Len %d", s.Record().Len())
	}
	e, ok := s.Record().WaitForTag("t1", time.Second)
	if !ok {
		t.Fatal("WaitForTag")
	}
	if e.Seq != 1 || e.Method != "POST" || e.Path != "/api/generate" || e.RawQuery != "a=1&b=two" ||
		e.RequestURI != "/api/generate?a=1&b=two" || e.Proto != "HTTP/1.1" || e.RemoteAddr == "" || !strings.HasPrefix(e.Host, "127.0.0.1:") {
		t.Errorf("request fields %+v", e)
	}
	if e.Header.Get("X-Custom") != "v" || e.Header.Get("X-Tollgate-Tag") != "t1" {
		t.Errorf("headers %v", e.Header)
	}
	if e.BodySize != int64(len(body)) || e.BodySHA256 != sha([]byte(body)) || string(e.BodyHead) != body[:4096] {
		t.Errorf("body size %d sha %s", e.BodySize, e.BodySHA256)
	}
	if e.Status != 200 || e.BytesSent != int64(len(r.body)) || e.ResponseSHA256 != sha(r.body) || e.Cancelled {
		t.Errorf("response fields: status %d bytes %d/%d", e.Status, e.BytesSent, len(r.body))
	}
	if e.Started.IsZero() || e.Finished.Before(e.Started) {
		t.Errorf("times %v %v", e.Started, e.Finished)
	}
	if got := s.Record().ByTag("t2"); len(got) != 2 || got[1].Seq != 3 {
		t.Errorf("ByTag t2 = %d entries", len(got))
	}
	if s.Record().NeverSawHeader("x-custom") || !s.Record().NeverSawHeader("Authorization") {
		t.Error("NeverSawHeader")
	}
	// Entries are copies.
	e.Header.Set("X-Custom", "changed")
	if got, _ := s.Record().WaitForTag("t1", 0); got.Header.Get("X-Custom") != "v" {
		t.Error("entry shares its header map with the record")
	}
	if _, ok := s.Record().WaitForTag("absent", 50*time.Millisecond); ok {
		t.Error("WaitForTag found an absent tag")
	}
	s.Record().Reset()
	if s.Record().Len() != 0 || !s.Record().NeverSawHeader("X-Custom") {
		t.Error("Reset")
	}
	do(t, "GET", s.URL+"/", "", nil)
	if all := s.Record().All(); len(all) != 1 || all[0].Seq != 4 {
		t.Errorf("after Reset: %+v", all)
	}
	// WaitForTag wakes up when a later request arrives.
	go func() {
		time.Sleep(50 * time.Millisecond)
		do(t, "GET", s.URL+"/", "", map[string]string{"X-Tollgate-Tag": "late"})
	}()
	if _, ok := s.Record().WaitForTag("late", 2*time.Second); !ok {
		t.Error("WaitForTag missed a later request")
	}
}

func TestErrorsAndRouting(t *testing.T) {
	s := start(t, mockollama.Options{})
	type errBody struct {
		Error any `json:"error"`
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		want               string // substring of the body
	}{
		{"GET", "/", "", 200, "Ollama is running"},
		{"HEAD", "/", "", 200, ""},
		{"HEAD", "/api/tags", "", 200, ""},
		{"GET", "/api/version", "", 200, `{"version":"0.12.6"}`},
		{"GET", "/api/ps", "", 200, `"models"`},
		{"POST", "/api/generate", `{"model":"nope","prompt":"x"}`, 404, `{"error":"model 'nope' not found"}`},
		{"POST", "/api/generate", `{"prompt":"x"}`, 400, `"error":"model is required"`},
		{"POST", "/api/generate", `{"model":`, 400, `"error"`},
		{"POST", "/api/generate", ``, 400, `missing request body`},
		{"POST", "/api/generate", `{"model":"nomic-embed-text","prompt":"x"}`, 400, `does not support generate`},
		{"POST", "/api/generate", `{"model":"llama3.2:1b"}`, 200, `"done_reason":"load"`},
		{"POST", "/api/pull", `{"model":"m","stream":false}`, 200, `{"status":"success"}`},
		{"POST", "/api/chat", `{"model":"llama3.2:1b","stream":false,"messages":[{"role":"user","content":"x"}]}`, 200, `"role":"assistant"`},
		{"POST", "/api/embed", `{"model":"llama3.2:1b","input":5}`, 400, `"error"`},
		{"GET", "/api/generate", "", 405, `"error"`},
		{"DELETE", "/api/tags", "", 405, `"error"`},
		{"GET", "/api/nothing", "", 404, `"error"`},
		{"GET", "/api/tags/", "", 404, `"error"`},
		{"POST", "/v1/chat/completions", `{"model":"nope","messages":[]}`, 404, `"type":"not_found_error"`},
		{"POST", "/v1/chat/completions", `nope`, 400, `"type":"invalid_request_error"`},
		{"GET", "/v1/chat/completions", ``, 405, `"message"`},
		{"GET", "/v1/nothing", ``, 404, `"message"`},
		{"GET", "/v1/models/nope", ``, 404, `"message"`},
		{"POST", "/v1/completions", `{"model":"llama3.2:1b","prompt":"hi"}`, 200, `"object":"text_completion"`},
		{"POST", "/v1/embeddings", `{"model":"nomic-embed-text","input":"hi","encoding_format":"base64"}`, 200, `"embedding":"`},
	} {
		r := do(t, c.method, s.URL+c.path, c.body, nil)
		if r.err != nil || r.status != c.status || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s %s %s: %d %s %v, want %d containing %s", c.method, c.path, c.body, r.status, r.body, r.err, c.status, c.want)
			continue
		}
		if r.status >= 400 && c.method != "HEAD" {
			var e errBody
			if json.Unmarshal(r.body, &e) != nil || e.Error == nil {
				t.Errorf("%s %s: error body not JSON {\"error\":...}: %s", c.method, c.path, r.body)
			}
		}
		if r.status == 405 && r.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
}

func TestSSEShape(t *testing.T) {
	s := start(t, mockollama.Options{})
	st := stream(t, t.Context(), "POST", s.URL+"/v1/chat/completions",
		`{"model":"llama3.2:1b","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"X-Mock-Chunks": "3"})
	if ct := st.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.HasSuffix(string(st.body), "\n\ndata: [DONE]\n\n") {
		t.Errorf("body does not end with [DONE]: %q", st.body[max(0, len(st.body)-40):])
	}
	// role, 3 content, finish, usage, [DONE]
	if len(st.lines) != 7 {
		t.Fatalf("%d events", len(st.lines))
	}
	type chunk struct {
		Object  string
		Choices []struct {
			Delta        struct{ Role, Content string }
			FinishReason *string `json:"finish_reason"`
		}
		Usage *struct{ TotalTokens int } `json:"usage"`
	}
	var cs []chunk
	for _, l := range st.lines[:6] {
		var c chunk
		if !strings.HasPrefix(l.line, "data: ") || json.Unmarshal([]byte(l.line[6:]), &c) != nil || c.Object != "chat.completion.chunk" {
			t.Fatalf("event %q", l.line)
		}
		cs = append(cs, c)
	}
	if cs[0].Choices[0].Delta.Role != "assistant" || cs[0].Choices[0].Delta.Content != "" {
		t.Errorf("first event %+v", cs[0])
	}
	for _, c := range cs[1:4] {
		if c.Choices[0].Delta.Content == "" || c.Choices[0].FinishReason != nil {
			t.Errorf("content event %+v", c)
		}
	}
	if f := cs[4].Choices[0].FinishReason; f == nil || *f != "stop" {
		t.Errorf("finish event %+v", cs[4])
	}
	if len(cs[5].Choices) != 0 || cs[5].Usage == nil {
		t.Errorf("usage event %+v", cs[5])
	}
}

func TestControlAPI(t *testing.T) {
	s := start(t, mockollama.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &http.Server{Handler: s.ControlHandler()}
	go cs.Serve(ln)
	t.Cleanup(func() { cs.Close() })
	ctl := "http://" + ln.Addr().String()

	if r := do(t, "GET", ctl+"/healthz", "", nil); r.status != 200 || !strings.Contains(string(r.body), "ok") {
		t.Errorf("healthz %d %s", r.status, r.body)
	}
	// The control API is not on the Ollama port.
	if r := do(t, "GET", s.URL+"/healthz", "", nil); r.status != 404 {
		t.Errorf("control path on the Ollama port: %d", r.status)
	}
	if r := do(t, "PUT", ctl+"/faults", `{"chunks":2,"interval":"30ms","status":418}`, nil); r.status != 200 {
		t.Fatalf("PUT faults %d %s", r.status, r.body)
	}
	if f := s.Faults(); f.Chunks != 2 || f.Interval != 30*time.Millisecond || f.Status != 418 {
		t.Errorf("faults %+v", f)
	}
	if r := do(t, "GET", ctl+"/faults", "", nil); !strings.Contains(string(r.body), `"interval": "30ms"`) {
		t.Errorf("GET faults %s", r.body)
	}
	if r := do(t, "GET", s.URL+"/api/tags", "", map[string]string{"X-Tollgate-Tag": "c1"}); r.status != 418 {
		t.Errorf("default status fault: %d", r.status)
	}
	if r := do(t, "GET", s.URL+"/api/tags", "", map[string]string{"X-Mock-Status": "200"}); r.status != 200 {
		t.Errorf("header overriding default status: %d", r.status)
	}
	for _, bad := range []string{`{"interval":"x"}`, `{"fault":"boom"}`, `{"chunks":-1}`, `nope`} {
		if r := do(t, "PUT", ctl+"/faults", bad, nil); r.status != 400 {
			t.Errorf("PUT %s: %d", bad, r.status)
		}
	}
	if r := do(t, "DELETE", ctl+"/faults", "", nil); r.status != 204 || s.Faults() != (mockollama.Faults{}) {
		t.Errorf("DELETE faults %d", r.status)
	}
	r := do(t, "GET", ctl+"/record?tag=c1", "", nil)
	var es []mockollama.Entry
	if err := json.Unmarshal(r.body, &es); err != nil || len(es) != 1 || es[0].Status != 418 || es[0].Tag != "c1" {
		t.Errorf("GET record?tag: %v %s", err, r.body)
	}
	r = do(t, "GET", ctl+"/record", "", nil)
	if err := json.Unmarshal(r.body, &es); err != nil || len(es) != 3 { // healthz probe + two tags
		t.Errorf("GET record: %v %d", err, len(es))
	}
	if r := do(t, "DELETE", ctl+"/record", "", nil); r.status != 204 || s.Record().Len() != 0 {
		t.Errorf("DELETE record %d", r.status)
	}
	if r := do(t, "POST", ctl+"/record", "", nil); r.status != 405 {
		t.Errorf("POST record %d", r.status)
	}
}

func TestCloseAndRestart(t *testing.T) {
	s, err := mockollama.Start("127.0.0.1:0", mockollama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr
	// An open stream dies with the server.
	req, _ := http.NewRequest("POST", s.URL+"/api/generate", strings.NewReader(genBody))
	req.Header.Set("X-Mock-Interval", "100ms")
	req.Header.Set("X-Mock-Chunks", "50")
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = io.ReadAll(br)
	if err == nil {
		t.Error("stream ended cleanly after Close")
	}
	within(t, "stream death after Close", time.Since(begin), 0, time.Second)
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("port still accepting after Close")
	}
	_ = s.Close() // idempotent

	s2, err := mockollama.Start(addr, mockollama.Options{})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer s2.Close()
	if r := do(t, "GET", s2.URL+"/api/version", "", nil); r.status != 200 || s2.Addr != addr {
		t.Errorf("after restart: %d %v", r.status, r.err)
	}
}

func TestHandlerInProcess(t *testing.T) {
	// New works as a plain http.Handler (e.g. under httptest).
	m := mockollama.New(mockollama.Options{Models: []string{"a", "b:7b"}, Version: "9.9.9"})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: m}
	go srv.Serve(ln)
	defer srv.Close()
	r := do(t, "GET", "http://"+ln.Addr().String()+"/api/tags", "", nil)
	if !strings.Contains(string(r.body), `"name":"a:latest"`) || !strings.Contains(string(r.body), `"name":"b:7b"`) {
		t.Errorf("custom models: %s", r.body)
	}
	if r := do(t, "GET", "http://"+ln.Addr().String()+"/api/version", "", nil); !strings.Contains(string(r.body), "9.9.9") {
		t.Errorf("version %s", r.body)
	}
	if m.Record().Len() != 2 {
		t.Errorf("Len %d", m.Record().Len())
	}
}
