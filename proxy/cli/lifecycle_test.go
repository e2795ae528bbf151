//go:build unix

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/proxy"
	"github.com/tollgate-dev/tollgate/proxy/lifecycle"
)

// foreignListenEnv turns the test binary into a harmless listener that is not
// a proxy (it answers 200 to everything), standing for someone else's service.
const foreignListenEnv = "TOLLGATE_TEST_FOREIGN_LISTEN"

func TestMain(m *testing.M) {
	if addr := os.Getenv(foreignListenEnv); addr != "" {
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "not a proxy\n") }))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startForeign starts a listener process on port and returns it; it is
// killed at cleanup.
func startForeign(t *testing.T, port int) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), foreignListenEnv+"=0.0.0.0:"+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	waitFor(t, "the foreign listener", func() bool { return lifecycle.ProbePort(context.Background(), port, "").Listening })
	return cmd
}

func alive(pid int) bool {
	_, err := lifecycle.ReadProc(pid)
	return err == nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamingBackend is a fake Ollama: /api/generate streams n NDJSON lines,
// one every interval; anything else answers 200 JSON.
func streamingBackend(t *testing.T, n int, interval time.Duration) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/generate" {
			_, _ = io.WriteString(w, `{"version":"0.0.0"}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "{\"response\":\"%d\",\"done\":%t}\n", i, i == n-1)
			w.(http.Flusher).Flush()
			if i < n-1 {
				select {
				case <-time.After(interval):
				case <-r.Context().Done():
					return
				}
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

type supervised struct {
	t        *testing.T
	state    string
	port     int
	backend  int
	lookup   func(string) (string, bool)
	lastOut  string
	lastErr  string
	lastCode int
}

// newSupervised prepares a state directory and ports; at cleanup it stops
// the proxy and SIGKILLs whatever our PID file still names (only when it is
// verifiably ours), so no test leaves a process behind.
func newSupervised(t *testing.T, backend int) *supervised {
	s := &supervised{t: t, state: filepath.Join(t.TempDir(), "state"), port: freePort(t), backend: backend}
	s.lookup = envOf(EnvPort, strconv.Itoa(s.port), EnvBackendPort, strconv.Itoa(backend))
	t.Cleanup(func() {
		s.run("stop", "--grace", "2s")
		if rec, _ := lifecycle.ReadRecord(filepath.Join(s.state, lifecycle.PIDFileName)); rec != nil {
			if id, _, _ := rec.Verify(); id == lifecycle.Ours {
				_ = syscall.Kill(rec.PID, syscall.SIGKILL)
			}
		}
	})
	return s
}

func (s *supervised) run(args ...string) int {
	var out, errOut syncBuffer
	args = append(args[:1:1], append([]string{"--state-dir", s.state}, args[1:]...)...)
	s.lastCode = Main(context.Background(), args, s.lookup, &out, &errOut)
	s.lastOut, s.lastErr = out.String(), errOut.String()
	return s.lastCode
}

func (s *supervised) mustRun(args ...string) string {
	s.t.Helper()
	if code := s.run(args...); code != 0 {
		s.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, s.lastOut, s.lastErr)
	}
	return s.lastOut
}

func (s *supervised) record() *lifecycle.Record {
	s.t.Helper()
	rec, err := lifecycle.ReadRecord(filepath.Join(s.state, lifecycle.PIDFileName))
	if err != nil || rec == nil {
		s.t.Fatalf("pid file: %v %v", rec, err)
	}
	return rec
}

func (s *supervised) token() string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.state, lifecycle.TokenFileName))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (s *supervised) status(token string) int {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/api/version", s.port), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestEnsureStartsOnceThenIsIdempotentAndStopStops(t *testing.T) {
	s := newSupervised(t, streamingBackend(t, 1, 0))
	out := s.mustRun("ensure", "--json")
	var o lifecycle.Outcome
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Action != "started" || o.PID == 0 {
		t.Fatalf("first ensure: %q %v", out, err)
	}
	// Ready on return: the readiness pair holds with no waiting.
	if s.status("") != 401 || s.status(s.token()) != 200 {
		t.Fatalf("not ready after ensure: %d %d", s.status(""), s.status(s.token()))
	}
	rec := s.record()
	if rec.PID != o.PID || rec.StartTime == 0 || len(rec.ExeSHA256) != 64 || rec.Port != s.port {
		t.Errorf("pid file %+v", rec)
	}
	for path, want := range map[string]os.FileMode{
		s.state: 0o700,
		filepath.Join(s.state, lifecycle.PIDFileName):   0o600,
		filepath.Join(s.state, lifecycle.LogFileName):   0o600,
		filepath.Join(s.state, lifecycle.TokenFileName): 0o600,
	} {
		if got := perm(t, path); got != want {
			t.Errorf("mode of %s: %04o, want %04o", path, got, want)
		}
	}
	// The daemon is detached: a session of its own.
	if sid := sessionOf(t, rec.PID); sid != rec.PID {
		t.Errorf("daemon pid %d is in session %d, not its own", rec.PID, sid)
	}
	owners, err := lifecycle.PortOwners(s.port)
	if err != nil || len(owners) != 1 || owners[0].PID != rec.PID {
		t.Errorf("port owners %v %v, want pid %d", owners, err, rec.PID)
	}

	out = s.mustRun("ensure", "--json")
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Action != "none" || o.PID != rec.PID {
		t.Fatalf("second ensure must change nothing: %q", out)
	}
	if s.record().StartTime != rec.StartTime {
		t.Error("second ensure rewrote the pid file for another process")
	}

	if code := s.run("start"); code != 1 || !strings.Contains(s.lastErr, "already running") {
		t.Errorf("start while running: %d %q", code, s.lastErr)
	}

	out = s.mustRun("status", "--json")
	var st lifecycle.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.PID != rec.PID || st.TokenFileMode != "0600" || !st.BackendReachable || !st.BackendLoopbackOnly || len(st.Problems) != 0 {
		t.Errorf("status %+v", st)
	}
	if human := s.mustRun("status"); !strings.Contains(human, "running (pid "+strconv.Itoa(rec.PID)) {
		t.Errorf("human status %q", human)
	}

	s.mustRun("stop")
	if alive(rec.PID) {
		t.Errorf("pid %d still alive after stop", rec.PID)
	}
	if lifecycle.ProbePort(context.Background(), s.port, "").Listening {
		t.Error("port still open after stop")
	}
	if _, err := os.Stat(filepath.Join(s.state, lifecycle.PIDFileName)); !os.IsNotExist(err) {
		t.Errorf("pid file left after stop: %v", err)
	}
	if code := s.run("status"); code != 1 {
		t.Errorf("status when stopped: exit %d", code)
	}
	if out := s.mustRun("stop"); !strings.Contains(out, "not running") {
		t.Errorf("second stop: %q", out)
	}
}

func TestEnsureRecoversFromKill9(t *testing.T) {
	s := newSupervised(t, streamingBackend(t, 1, 0))
	s.mustRun("start")
	old := s.record()
	if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed proxy to go", func() bool { return !alive(old.PID) })
	if code := s.run("status"); code != 1 {
		t.Errorf("status with a dead proxy: %d", code)
	}
	var o lifecycle.Outcome
	if err := json.Unmarshal([]byte(s.mustRun("ensure", "--json")), &o); err != nil || o.Action != "started" || o.PID == old.PID {
		t.Fatalf("ensure after kill -9: %+v %v", o, err)
	}
	if s.status(s.token()) != 200 {
		t.Error("token refused after recovery")
	}
}

func TestEnsureReplacesOurStaleProxy(t *testing.T) {
	s := newSupervised(t, streamingBackend(t, 1, 0))
	s.mustRun("ensure")
	old := s.record()
	oldTok := s.token()
	// The token file changes behind the proxy's back (no SIGHUP): the proxy
	// on the port now holds a stale token.
	newTok, err := proxy.RotateTokenFile(filepath.Join(s.state, lifecycle.TokenFileName))
	if err != nil {
		t.Fatal(err)
	}
	if s.status(newTok) != 401 {
		t.Fatal("setup: the proxy already took the new token")
	}
	var o lifecycle.Outcome
	if err := json.Unmarshal([]byte(s.mustRun("ensure", "--json")), &o); err != nil || o.Action != "replaced" || o.PID == old.PID {
		t.Fatalf("ensure with a stale token: %+v %v", o, err)
	}
	if alive(old.PID) {
		t.Error("the stale proxy still runs")
	}
	if s.status(newTok) != 200 || s.status(oldTok) != 401 {
		t.Errorf("after replace: new token %d, old token %d", s.status(newTok), s.status(oldTok))
	}
}

func TestForeignListenerIsNeverTouched(t *testing.T) {
	s := newSupervised(t, streamingBackend(t, 1, 0))
	foreign := startForeign(t, s.port)
	pid := foreign.Process.Pid

	if code := s.run("ensure"); code != 1 {
		t.Fatalf("ensure with a foreign listener: exit %d %q", code, s.lastErr)
	}
	if !strings.Contains(s.lastErr, "pid "+strconv.Itoa(pid)) || !strings.Contains(s.lastErr, "not the proxy") {
		t.Errorf("ensure must name the foreign process: %q", s.lastErr)
	}
	if code := s.run("start"); code != 1 || !strings.Contains(s.lastErr, "pid "+strconv.Itoa(pid)) {
		t.Errorf("start with a foreign listener: %d %q", code, s.lastErr)
	}
	if code := s.run("stop"); code != 0 {
		t.Errorf("stop with no pid file: %d %q", code, s.lastErr)
	}
	if !alive(pid) || !lifecycle.ProbePort(context.Background(), s.port, "").Listening {
		t.Fatal("the foreign listener was killed")
	}
}

func TestStalePIDFileAndForeignListener(t *testing.T) {
	// Our proxy dies by kill -9, and someone else takes the port: the PID
	// file is stale, the port owner is foreign. Nothing may kill it.
	s := newSupervised(t, streamingBackend(t, 1, 0))
	s.mustRun("ensure")
	rec := s.record()
	_ = syscall.Kill(rec.PID, syscall.SIGKILL)
	waitFor(t, "the port to close", func() bool { return !lifecycle.ProbePort(context.Background(), s.port, "").Listening })
	foreign := startForeign(t, s.port)
	if code := s.run("ensure"); code != 1 {
		t.Errorf("ensure: exit %d", code)
	}
	if code := s.run("stop"); code != 0 || !strings.Contains(s.lastOut, "stale") {
		t.Errorf("stop with a dead pid: %d %q %q", code, s.lastOut, s.lastErr)
	}
	if !alive(foreign.Process.Pid) {
		t.Fatal("the foreign listener was killed")
	}
}

// writeForeignRecord writes a PID file naming pid, as if our proxy had once
// had that PID: the start time or the executable differ, as after PID reuse.
func writeForeignRecord(t *testing.T, s *supervised, pid int, sameStart bool) {
	t.Helper()
	self, err := lifecycle.RecordOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	other, err := lifecycle.RecordOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	rec := self // our executable's identity...
	rec.PID, rec.Port, rec.BackendPort = pid, s.port, s.backend
	rec.StartTime = other.StartTime - 1 // ...and a start time before the process that now has the PID
	if sameStart {
		rec.StartTime = other.StartTime // only the executable differs
	}
	if err := os.MkdirAll(s.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := lifecycle.WriteRecord(filepath.Join(s.state, lifecycle.PIDFileName), rec); err != nil {
		t.Fatal(err)
	}
}

func TestStopRefusesAReusedPID(t *testing.T) {
	for _, sameStart := range []bool{false, true} {
		t.Run(fmt.Sprintf("same-start-time=%t", sameStart), func(t *testing.T) {
			s := newSupervised(t, streamingBackend(t, 1, 0))
			sleep := exec.Command("sleep", "60")
			if err := sleep.Start(); err != nil {
				t.Skip("no sleep command:", err)
			}
			t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
			writeForeignRecord(t, s, sleep.Process.Pid, sameStart)

			if code := s.run("stop"); code != 1 || !strings.Contains(s.lastErr, "not our proxy") || !strings.Contains(s.lastErr, "sleep") {
				t.Errorf("stop with a reused pid: %d %q", code, s.lastErr)
			}
			time.Sleep(100 * time.Millisecond)
			if !alive(sleep.Process.Pid) {
				t.Fatal("stop killed a process it did not start")
			}
			if _, err := os.Stat(filepath.Join(s.state, lifecycle.PIDFileName)); err != nil {
				t.Errorf("the pid file was removed: %v", err)
			}
			// ensure ignores the stale record and starts our proxy.
			var o lifecycle.Outcome
			if err := json.Unmarshal([]byte(s.mustRun("ensure", "--json")), &o); err != nil || o.Action != "started" {
				t.Fatalf("ensure over a reused pid: %+v %v", o, err)
			}
			if !alive(sleep.Process.Pid) {
				t.Fatal("ensure killed a process it did not start")
			}
			if s.record().PID == sleep.Process.Pid {
				t.Error("the pid file still names the foreign process")
			}
		})
	}
}

func TestRotateKeepsInFlightStreamsAndRefusesTheOldToken(t *testing.T) {
	const lines = 30
	s := newSupervised(t, streamingBackend(t, lines, 40*time.Millisecond))
	s.mustRun("ensure")
	pid := s.record().PID
	oldTok := s.token()

	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/api/generate", s.port), strings.NewReader(`{"model":"m"}`))
	req.Header.Set("Authorization", "Bearer "+oldTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		t.Fatal("no first line")
	}
	got := 1

	out := s.mustRun("token", "--rotate")
	newTok := strings.TrimSpace(out)
	if newTok == oldTok || newTok != s.token() {
		t.Fatalf("rotate printed %q", newTok)
	}
	if s.status(oldTok) != 401 {
		t.Error("the old token is still accepted after rotate returned")
	}
	if s.status(newTok) != 200 {
		t.Error("the new token is refused after rotate returned")
	}
	for sc.Scan() {
		got++
	}
	if got != lines || sc.Err() != nil {
		t.Errorf("the in-flight stream was cut: %d of %d lines (%v)", got, lines, sc.Err())
	}
	if s.record().PID != pid || !alive(pid) {
		t.Error("rotation restarted the proxy")
	}
	log, _ := os.ReadFile(filepath.Join(s.state, lifecycle.LogFileName))
	if strings.Contains(string(log), oldTok) || strings.Contains(string(log), newTok) {
		t.Error("the log holds a token")
	}
}

func TestStartReportsWhyTheProxyDidNotStart(t *testing.T) {
	s := newSupervised(t, streamingBackend(t, 1, 0))
	// A token file that is a symlink: the daemon refuses it and exits 2.
	if err := os.MkdirAll(s.state, 0o700); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(t.TempDir(), "real")
	if err := os.WriteFile(real, []byte("abcdefghijklmnopqrstuvwxyz012345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(s.state, "link")
	_ = os.Symlink(real, link)
	if code := s.run("start", "--token-file", link); code == 0 {
		t.Fatal("start with a symlinked token file succeeded")
	}
	if !strings.Contains(s.lastErr, "symlink") {
		t.Errorf("start must give the reason: %q", s.lastErr)
	}
	if _, err := os.Stat(filepath.Join(s.state, lifecycle.PIDFileName)); !os.IsNotExist(err) {
		t.Error("a failed start left a pid file")
	}
}

func TestStatusFlagsABackendOnAllInterfaces(t *testing.T) {
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { _ = http.Serve(ln, http.NotFoundHandler()) }()
	s := newSupervised(t, ln.Addr().(*net.TCPAddr).Port)
	if code := s.run("status", "--json"); code != 1 {
		t.Fatalf("status: exit %d", code)
	}
	var st lifecycle.Status
	if err := json.Unmarshal([]byte(s.lastOut), &st); err != nil {
		t.Fatal(err)
	}
	if st.BackendLoopbackOnly || !st.BackendReachable || !strings.Contains(strings.Join(st.Problems, "\n"), "0.0.0.0") {
		t.Errorf("status %+v", st)
	}
}

func TestSIGHUPReloadsTheTokenFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	old, _, err := proxy.LoadOrCreateTokenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	r := startMain(t, []string{"--port", strconv.Itoa(port), "--backend-port", strconv.Itoa(backendPort(t)), "--token-file", file}, envOf())
	if r.get(t, "/api/version", old) != 200 {
		t.Fatal("old token refused before rotation")
	}
	// A missing file keeps the current token.
	_ = os.Rename(file, file+".away")
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "the reload to be refused", func() bool { return strings.Contains(r.stderr.String(), "missing") })
	if r.get(t, "/api/version", old) != 200 {
		t.Fatal("a missing file lost the token")
	}
	_ = os.Rename(file+".away", file)
	newTok, err := proxy.RotateTokenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "the new token", func() bool { return r.get(t, "/api/version", newTok) == 200 })
	if r.get(t, "/api/version", old) != 401 {
		t.Error("old token accepted after SIGHUP")
	}
	if strings.Contains(r.stderr.String(), newTok) {
		t.Error("the new token was logged")
	}
}

// sessionOf reads the session ID (field 6 of /proc/<pid>/stat).
func sessionOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	sid, _ := strconv.Atoi(f[3])
	return sid
}
