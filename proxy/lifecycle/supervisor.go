// Package lifecycle supervises ollama-auth-proxy as a background process on
// Linux: start it detached, record what it is (PID, start time, executable
// image), make sure the proxy on the port is ours and takes our token,
// replace it when it is stale, stop it, and never touch a process that is not
// the one we started. It reads /proc; it never kills by port.
package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/proxy"
)

// File names inside the state directory.
const (
	PIDFileName   = "proxy.pid"
	LogFileName   = "proxy.log"
	TokenFileName = "token"
)

// Defaults for a zero Supervisor field.
const (
	DefaultGrace        = 10 * time.Second
	DefaultReadyTimeout = 15 * time.Second
)

// DefaultStateDir is $XDG_STATE_HOME/ollama-auth-proxy, else
// ~/.local/state/ollama-auth-proxy.
func DefaultStateDir(lookupEnv func(string) (string, bool)) (string, error) {
	if v, ok := lookupEnv("XDG_STATE_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "ollama-auth-proxy"), nil
	}
	home, ok := lookupEnv("HOME")
	if !ok || home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no state directory: set --state-dir, XDG_STATE_HOME or HOME")
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "ollama-auth-proxy"), nil
}

// Supervisor manages one proxy: one state directory, one port.
type Supervisor struct {
	StateDir    string
	TokenFile   string // default <StateDir>/token
	Port        int
	BackendPort int
	// Command starts the proxy in the foreground (serving mode) with the
	// given configuration; the supervisor detaches it (new session, stdio
	// to the log file). Argv[0] must be an absolute path.
	Argv []string
	Env  []string
	// Grace is how long stop waits after SIGTERM before SIGKILL.
	Grace        time.Duration
	ReadyTimeout time.Duration
}

func (s *Supervisor) pidFile() string { return filepath.Join(s.StateDir, PIDFileName) }

// LogFile is where the detached proxy's stdout and stderr go.
func (s *Supervisor) LogFile() string { return filepath.Join(s.StateDir, LogFileName) }

// PIDFile is the path of the PID file.
func (s *Supervisor) PIDFile() string { return s.pidFile() }

func (s *Supervisor) tokenFile() string {
	if s.TokenFile != "" {
		return s.TokenFile
	}
	return filepath.Join(s.StateDir, TokenFileName)
}

// TokenPath is the token file the proxy reads.
func (s *Supervisor) TokenPath() string { return s.tokenFile() }

func (s *Supervisor) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return DefaultGrace
}

func (s *Supervisor) readyTimeout() time.Duration {
	if s.ReadyTimeout > 0 {
		return s.ReadyTimeout
	}
	return DefaultReadyTimeout
}

// ForeignError: the port or the PID file names a process that is not the
// proxy this supervisor started. Nothing was signalled.
type ForeignError struct {
	Port   int
	Owners []Owner
	Why    string
}

func (e *ForeignError) Error() string {
	if e.Why != "" {
		return e.Why
	}
	var names []string
	for _, o := range e.Owners {
		names = append(names, o.String())
	}
	who := strings.Join(names, ", ")
	if who == "" {
		who = "an unidentified process"
	}
	return fmt.Sprintf("port %d is held by %s, which is not the proxy this state directory started: not touching it; stop it yourself or choose another port", e.Port, who)
}

// ensureStateDir creates the state directory with mode 0700 and tightens an
// existing one.
func (s *Supervisor) ensureStateDir() error {
	if s.StateDir == "" {
		return errors.New("no state directory")
	}
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %v", s.StateDir, err)
	}
	fi, err := os.Lstat(s.StateDir)
	if err != nil {
		return fmt.Errorf("state directory %s: %v", s.StateDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s is not a directory", s.StateDir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(s.StateDir, 0o700); err != nil {
			return fmt.Errorf("state directory %s: cannot set mode 0700: %v", s.StateDir, err)
		}
	}
	return nil
}

// Token loads (creating when missing) the token the proxy is started with.
func (s *Supervisor) Token() (string, error) {
	if err := s.ensureStateDir(); err != nil {
		return "", err
	}
	tok, _, err := proxy.LoadOrCreateTokenFile(s.tokenFile())
	return tok, err
}

// Current returns the PID file's record and what it names now.
func (s *Supervisor) Current() (*Record, Identity, Proc, string, error) {
	r, err := ReadRecord(s.pidFile())
	if err != nil || r == nil {
		return nil, Gone, Proc{}, "", err
	}
	id, p, why := r.Verify()
	return r, id, p, why, nil
}

// Start starts the proxy detached and returns once it is ready: 401 without
// the token and the token accepted. It refuses when the port is taken or our
// proxy already runs.
func (s *Supervisor) Start(ctx context.Context) (*Record, error) {
	tok, err := s.Token()
	if err != nil {
		return nil, err
	}
	if r, id, _, _, err := s.Current(); err != nil {
		return nil, err
	} else if id == Ours {
		return nil, fmt.Errorf("already running as pid %d (see %s): use ensure, or stop first", r.PID, s.pidFile())
	}
	if ProbePort(ctx, s.Port, "").Listening {
		owners, _ := PortOwners(s.Port)
		return nil, &ForeignError{Port: s.Port, Owners: owners}
	}
	return s.spawn(ctx, tok)
}

func (s *Supervisor) spawn(ctx context.Context, tok string) (*Record, error) {
	if len(s.Argv) == 0 || !filepath.IsAbs(s.Argv[0]) {
		return nil, errors.New("no absolute path to the proxy executable")
	}
	logf, err := os.OpenFile(s.LogFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %v", err)
	}
	defer logf.Close()
	_ = logf.Chmod(0o600)
	offset, _ := logf.Seek(0, 2)

	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Env = s.Env
	cmd.Dir = "/"
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %v", s.Argv[0], err)
	}
	// Reap it if it dies while this process lives (no zombie holding the
	// PID); once this process exits, init adopts it.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	fail := func(err error) (*Record, error) {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		_ = os.Remove(s.pidFile())
		return nil, err
	}
	rec, err := RecordOf(cmd.Process.Pid)
	if err != nil {
		return fail(err)
	}
	rec.Port, rec.BackendPort, rec.TokenFile = s.Port, s.BackendPort, s.tokenFile()
	if err := WriteRecord(s.pidFile(), rec); err != nil {
		return fail(err)
	}

	deadline := time.Now().Add(s.readyTimeout())
	var last Probe
	for {
		select {
		case <-exited:
			_ = os.Remove(s.pidFile())
			return nil, fmt.Errorf("the proxy exited (%v) before it was ready: %s", cmd.ProcessState, s.logTail(offset))
		default:
		}
		last = ProbePort(ctx, s.Port, tok)
		if last.Ready() {
			return &rec, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fail(fmt.Errorf("the proxy was not ready within %s (without token: %d, with token: %d): %s",
				s.readyTimeout(), last.Unauthorized, last.WithToken, s.logTail(offset)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail is the last line the proxy logged since offset, for error messages.
func (s *Supervisor) logTail(offset int64) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil || int64(len(b)) < offset {
		return "see " + s.LogFile()
	}
	lines := strings.Split(strings.TrimSpace(string(b[offset:])), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return "nothing logged (see " + s.LogFile() + ")"
	}
	return fmt.Sprintf("last log line: %q (see %s)", last, s.LogFile())
}

// Outcome is what Ensure did.
type Outcome struct {
	Action string `json:"action"` // "none", "started" or "replaced"
	PID    int    `json:"pid,omitempty"`
	Reason string `json:"reason"`
}

// Ensure makes the proxy on the port one that accepts our token: nothing to
// do when it already does; our own stale or unhealthy proxy is replaced; a
// process we did not start is never touched (a *ForeignError).
func (s *Supervisor) Ensure(ctx context.Context) (Outcome, error) {
	tok, err := s.Token()
	if err != nil {
		return Outcome{}, err
	}
	rec, id, _, _, err := s.Current()
	if err != nil {
		return Outcome{}, err
	}
	p := ProbePort(ctx, s.Port, tok)
	if p.Ready() {
		o := Outcome{Action: "none", Reason: "the proxy on the port already accepts the token"}
		if id == Ours {
			o.PID = rec.PID
		}
		return o, nil
	}
	reason := "nothing listened on the port"
	if p.Listening {
		owners, err := PortOwners(s.Port)
		if err != nil {
			return Outcome{}, err
		}
		if id != Ours || !ownedBy(owners, rec.PID) {
			return Outcome{}, &ForeignError{Port: s.Port, Owners: owners}
		}
		reason = fmt.Sprintf("our proxy (pid %d) did not accept the token (without token: %d, with token: %d)", rec.PID, p.Unauthorized, p.WithToken)
	} else if id == Ours {
		reason = fmt.Sprintf("our proxy (pid %d) was not listening", rec.PID)
	}
	action := "started"
	if id == Ours {
		if err := s.terminate(*rec); err != nil {
			return Outcome{}, err
		}
		_ = os.Remove(s.pidFile())
		action = "replaced"
	}
	nr, err := s.spawn(ctx, tok)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Action: action, PID: nr.PID, Reason: reason}, nil
}

func ownedBy(owners []Owner, pid int) bool {
	if len(owners) == 0 {
		return false
	}
	for _, o := range owners {
		if o.PID != pid {
			return false
		}
	}
	return true
}

// StopResult is what Stop did.
type StopResult struct {
	Stopped bool   `json:"stopped"`
	PID     int    `json:"pid,omitempty"`
	Killed  bool   `json:"killed,omitempty"` // SIGKILL was needed
	Note    string `json:"note"`
}

// Stop stops the process the PID file names, after checking it is still our
// proxy, and removes the PID file. A PID file naming a process we did not
// start (PID reuse) is a *ForeignError: nothing is signalled or removed.
func (s *Supervisor) Stop(ctx context.Context) (StopResult, error) {
	rec, id, _, why, err := s.Current()
	if err != nil {
		return StopResult{}, err
	}
	switch {
	case rec == nil:
		return StopResult{Note: "not running (no pid file)"}, nil
	case id == Gone:
		_ = os.Remove(s.pidFile())
		return StopResult{PID: rec.PID, Note: fmt.Sprintf("not running: pid %d has exited; removed the stale pid file", rec.PID)}, nil
	case id == Foreign:
		return StopResult{}, &ForeignError{Port: s.Port, Why: fmt.Sprintf("the pid file %s names a process that is not our proxy: %s; nothing was signalled and nothing removed (delete the pid file once you have checked)", s.pidFile(), why)}
	}
	killed, err := s.terminateKilled(*rec)
	if err != nil {
		return StopResult{}, err
	}
	_ = os.Remove(s.pidFile())
	return StopResult{Stopped: true, PID: rec.PID, Killed: killed, Note: fmt.Sprintf("stopped pid %d", rec.PID)}, nil
}

func (s *Supervisor) terminate(r Record) error {
	_, err := s.terminateKilled(r)
	return err
}

// terminateKilled sends SIGTERM, waits up to the grace period, then SIGKILL.
// Before each signal it re-verifies the process is still r.
func (s *Supervisor) terminateKilled(r Record) (killed bool, err error) {
	if !s.signalIfOurs(r, syscall.SIGTERM) {
		return false, nil
	}
	if waitGone(r, s.grace()) {
		return false, nil
	}
	if !s.signalIfOurs(r, syscall.SIGKILL) {
		return true, nil
	}
	if waitGone(r, 5*time.Second) {
		return true, nil
	}
	return true, fmt.Errorf("pid %d survived SIGKILL", r.PID)
}

func (s *Supervisor) signalIfOurs(r Record, sig syscall.Signal) bool {
	if id, _, _ := r.Verify(); id != Ours {
		return false
	}
	return syscall.Kill(r.PID, sig) == nil
}

// waitGone waits until the process r names has exited (or is a zombie, or
// the PID names another process).
func waitGone(r Record, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		p, err := ReadProc(r.PID)
		if errors.Is(err, ErrNoProcess) || (err == nil && p.StartTime != r.StartTime) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Reload asks our running proxy to re-read its token file (SIGHUP). It
// returns the PID signalled, 0 when our proxy is not running.
func (s *Supervisor) Reload() (int, error) {
	rec, id, _, why, err := s.Current()
	if err != nil || rec == nil || id == Gone {
		return 0, err
	}
	if id == Foreign {
		return 0, &ForeignError{Port: s.Port, Why: "the pid file names a process that is not our proxy: " + why + "; not signalled"}
	}
	if err := syscall.Kill(rec.PID, syscall.SIGHUP); err != nil {
		return 0, fmt.Errorf("signal pid %d: %v", rec.PID, err)
	}
	return rec.PID, nil
}

// Status is the state of the supervised proxy and its backend.
type Status struct {
	StateDir            string   `json:"state_dir"`
	PIDFile             string   `json:"pid_file"`
	Running             bool     `json:"running"`
	PID                 int      `json:"pid,omitempty"`
	PIDFileNote         string   `json:"pid_file_note,omitempty"`
	Port                int      `json:"port"`
	ProxyAnswers        bool     `json:"proxy_answers"`
	TokenAccepted       bool     `json:"token_accepted"`
	PortOwners          []Owner  `json:"port_owners,omitempty"`
	TokenFile           string   `json:"token_file"`
	TokenFileMode       string   `json:"token_file_mode,omitempty"`
	TokenFileOK         bool     `json:"token_file_ok"`
	BackendPort         int      `json:"backend_port"`
	BackendReachable    bool     `json:"backend_reachable"`
	BackendListeners    []string `json:"backend_listeners"`
	BackendLoopbackOnly bool     `json:"backend_loopback_only"`
	Problems            []string `json:"problems"`
}

// OK reports whether the proxy runs and nothing is wrong.
func (st Status) OK() bool { return st.Running && len(st.Problems) == 0 }

// Status inspects without changing anything (it never creates the token file).
func (s *Supervisor) Status(ctx context.Context) Status {
	st := Status{StateDir: s.StateDir, PIDFile: s.pidFile(), Port: s.Port, TokenFile: s.tokenFile(), BackendPort: s.BackendPort, BackendListeners: []string{}, Problems: []string{}}
	problem := func(f string, a ...any) { st.Problems = append(st.Problems, fmt.Sprintf(f, a...)) }

	rec, id, _, why, err := s.Current()
	switch {
	case err != nil:
		st.PIDFileNote = err.Error()
	case rec == nil:
		st.PIDFileNote = "no pid file"
	case id == Gone:
		st.PIDFileNote = fmt.Sprintf("stale: pid %d has exited", rec.PID)
	case id == Foreign:
		st.PIDFileNote = "stale: " + why
	default:
		st.PID = rec.PID
	}

	var tok string
	if fi, err := os.Lstat(st.TokenFile); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			problem("token file %s does not exist", st.TokenFile)
		} else {
			problem("token file %s: %v", st.TokenFile, err)
		}
	} else {
		st.TokenFileMode = fmt.Sprintf("%04o", fi.Mode().Perm())
		switch {
		case !fi.Mode().IsRegular():
			problem("token file %s is not a regular file", st.TokenFile)
		case fi.Mode().Perm() != 0o600:
			problem("token file %s has mode %s, want 0600", st.TokenFile, st.TokenFileMode)
		default:
			if b, err := os.ReadFile(st.TokenFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
				tok = string(bytes.TrimSpace(b))
				st.TokenFileOK = true
			} else {
				problem("token file %s is unreadable or empty", st.TokenFile)
			}
		}
	}

	p := ProbePort(ctx, s.Port, tok)
	st.ProxyAnswers = p.AuthProxy()
	st.TokenAccepted = p.Accepts()
	if p.Listening {
		st.PortOwners, _ = PortOwners(s.Port)
	}
	st.Running = st.PID != 0 && ownedBy(st.PortOwners, st.PID) && st.ProxyAnswers
	switch {
	case st.PID != 0 && !p.Listening:
		problem("our proxy (pid %d) does not listen on port %d", st.PID, s.Port)
	case p.Listening && !st.ProxyAnswers:
		problem("port %d answers %d without a token, not 401: not an auth proxy", s.Port, p.Unauthorized)
	case p.Listening && tok != "" && !st.TokenAccepted:
		problem("the proxy on port %d refuses the token in %s", s.Port, st.TokenFile)
	}

	st.BackendReachable = ProbePort(ctx, s.BackendPort, "").Listening
	if !st.BackendReachable {
		problem("nothing answers on the backend port 127.0.0.1:%d (is Ollama running?)", s.BackendPort)
	}
	socks, err := Listeners(s.BackendPort)
	if err != nil {
		problem("backend listeners: %v", err)
	}
	st.BackendLoopbackOnly = err == nil && len(socks) > 0
	for _, so := range socks {
		st.BackendListeners = append(st.BackendListeners, so.String())
		if !so.Loopback() {
			st.BackendLoopbackOnly = false
			problem("the backend listens on %s: reachable from the network without authentication; bind Ollama to 127.0.0.1 (OLLAMA_HOST=127.0.0.1:%d)", so, s.BackendPort)
		}
	}
	return st
}
