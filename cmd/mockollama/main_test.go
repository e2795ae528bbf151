package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("MOCKOLLAMA_TEST_MAIN") == "1" {
		os.Args = append([]string{"mockollama"}, strings.Fields(os.Getenv("MOCKOLLAMA_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// syncBuf is a goroutine-safe buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--listen"},
		{"--listen", "nonsense"},
		{"--listen", "127.0.0.1:99999"},
		{"--listen", "127.0.0.1:http"},
		{"--control", "127.0.0.1:11434"},
		{"--listen", "127.0.0.1:1234", "--control", "0.0.0.0:1234"},
		{"--chunks", "0"},
		{"--chunks", "ten"},
		{"--interval", "fast"},
		{"--interval", "-5ms"},
		{"--seed", "x"},
		{"--models", " , "},
		{"--nope"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		msg := errb.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "mockollama: ") ||
			strings.Contains(msg, "goroutine") || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, msg, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--listen") {
		t.Errorf("--help: %d %q", code, out.String())
	}
}

var listening = regexp.MustCompile(`listening on (http://\S+?)(?:,|$).*?(?:control API on (http://\S+))?$`)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--models", "m1,m2:3b", "--seed", "5", "--chunks", "2"}, &out, &errb)
	}()
	var m []string
	deadline := time.Now().Add(5 * time.Second)
	for m == nil && time.Now().Before(deadline) {
		m = listening.FindStringSubmatch(strings.TrimSpace(out.String()))
		time.Sleep(5 * time.Millisecond)
	}
	if m == nil || m[2] == "" {
		cancel()
		t.Fatalf("no listening line: %q %q", out.String(), errb.String())
	}
	api, ctl := m[1], m[2]
	get := func(url string) string {
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	if b := get(api + "/api/tags"); !strings.Contains(b, `"m1:latest"`) || !strings.Contains(b, `"m2:3b"`) {
		t.Errorf("tags %s", b)
	}
	r, err := http.Post(api+"/api/generate", "application/json", strings.NewReader(`{"model":"m1","prompt":"p"}`))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		n++
	}
	r.Body.Close()
	if n != 3 {
		t.Errorf("--chunks 2: %d lines", n)
	}
	if b := get(ctl + "/healthz"); !strings.Contains(b, "ok") {
		t.Errorf("healthz %s", b)
	}
	if b := get(ctl + "/record"); !strings.Contains(b, `"/api/generate"`) {
		t.Errorf("record %s", b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if _, err := http.Get(api + "/"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestListenBusy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	go run(ctx, []string{"--listen", "127.0.0.1:0"}, &out, &errb)
	deadline := time.Now().Add(5 * time.Second)
	var m []string
	for m == nil && time.Now().Before(deadline) {
		m = listening.FindStringSubmatch(strings.TrimSpace(out.String()))
		time.Sleep(5 * time.Millisecond)
	}
	if m == nil {
		t.Fatal("no listening line")
	}
	var out2, errb2 bytes.Buffer
	code := run(context.Background(), []string{"--listen", strings.TrimPrefix(m[1], "http://")}, &out2, &errb2)
	if code != 1 || !strings.Contains(errb2.String(), "cannot listen") || strings.Count(errb2.String(), "\n") != 1 {
		t.Errorf("busy port: exit %d, %q", code, errb2.String())
	}
}

func TestSignal(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MOCKOLLAMA_TEST_MAIN=1", "MOCKOLLAMA_TEST_ARGS=--listen 127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "listening on http://127.0.0.1:") {
		_ = cmd.Process.Kill()
		t.Fatalf("first line %q: %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, stderr %q", err, errb.String())
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no exit after SIGTERM")
	}
}
