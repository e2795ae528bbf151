//go:build unix

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/proxy"
	"github.com/tollgate-dev/tollgate/proxy/lifecycle"
)

// daemonEnv marks a process the supervisor started: whatever binary links
// this package (ollama-auth-proxy, tollgate, a test binary) then runs the
// proxy in serving mode from its arguments, before main. It is how the
// in-process builtin target can still start a real, separate proxy process.
const daemonEnv = "TOLLGATE_AUTH_PROXY_DAEMON"

func init() {
	if os.Getenv(daemonEnv) != "1" {
		return
	}
	_ = os.Unsetenv(daemonEnv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := Main(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// isLifecycleCommand reports whether args[0] is a supervisor subcommand.
func isLifecycleCommand(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "start", "ensure", "stop", "status":
		return true
	}
	return false
}

const lifecycleUsage = `Usage: ollama-auth-proxy start|ensure|stop|status [flags]
       ollama-auth-proxy token --state-dir DIR [--rotate]

Runs the proxy in the background, supervised through a state directory
(mode 0700) holding the token file (token, 0600), the PID file (proxy.pid:
pid, start time, executable digest) and the log (proxy.log).

  start    start the proxy detached; returns once it answers 401 without the
           token and accepts the token; fails if the port is taken
  ensure   idempotent: nothing if the proxy on the port accepts our token;
           replaces our own stale or unhealthy proxy; starts one if none;
           never touches a process it did not start (exit 1, naming it)
  stop     SIGTERM (then SIGKILL after --grace) the process the PID file
           names, only after checking it is still our proxy
  status   running or not, PID, port, token file and mode, backend reachable
           and bound to loopback only (--json for machines); exit 1 unless
           the proxy runs and nothing is wrong
  token --rotate --state-dir DIR
           write a new token; a running proxy re-reads it (SIGHUP) without
           dropping in-flight streams, and the old token is refused

Flags:
`

type lifecycleOptions struct {
	sup  lifecycle.Supervisor
	json bool
}

func parseLifecycle(cmd string, args []string, lookupEnv func(string) (string, bool), stdout io.Writer) (*lifecycleOptions, error) {
	fs := flag.NewFlagSet(name+" "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stateDir := fs.String("state-dir", "", "state `directory` (default $XDG_STATE_HOME/ollama-auth-proxy or ~/.local/state/ollama-auth-proxy)")
	tokenFile := fs.String("token-file", "", "token `file` (default <state-dir>/token; env "+EnvTokenFile+")")
	port := fs.String("port", "", fmt.Sprintf("proxy `port` (env %s, default %d)", EnvPort, DefaultPort))
	backend := fs.String("backend-port", "", fmt.Sprintf("Ollama's `port` on 127.0.0.1 (env %s, default %d)", EnvBackendPort, DefaultBackendPort))
	strict := fs.Bool("no-health-exemption", false, "start the proxy with --no-health-exemption (env "+EnvStrict+"=1)")
	grace := fs.Duration("grace", lifecycle.DefaultGrace, "stop: how long to wait after SIGTERM before SIGKILL")
	ready := fs.Duration("ready-timeout", lifecycle.DefaultReadyTimeout, "start/ensure: how long to wait for the proxy to be ready")
	asJSON := fs.Bool("json", false, "machine-readable output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, lifecycleUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, refuse("%s: %v (see %s --help)", cmd, err, cmd)
	}
	if fs.NArg() > 0 {
		return nil, refuse("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o := &lifecycleOptions{json: *asJSON}
	var err error
	if o.sup.Port, err = portValue("--port", *port, set["port"], EnvPort, DefaultPort, lookupEnv); err != nil {
		return nil, err
	}
	if o.sup.BackendPort, err = portValue("--backend-port", *backend, set["backend-port"], EnvBackendPort, DefaultBackendPort, lookupEnv); err != nil {
		return nil, err
	}
	if o.sup.Port == o.sup.BackendPort {
		return nil, refuse("listen port %d equals the backend port: the proxy would forward to itself", o.sup.Port)
	}
	dir := *stateDir
	if dir == "" {
		if dir, err = lifecycle.DefaultStateDir(lookupEnv); err != nil {
			return nil, refuse("%v", err)
		}
	}
	if o.sup.StateDir, err = filepath.Abs(dir); err != nil {
		return nil, refuse("--state-dir: %v", err)
	}
	tf := *tokenFile
	if tf == "" {
		tf, _ = lookupEnv(EnvTokenFile)
	}
	if tf == "" {
		tf = filepath.Join(o.sup.StateDir, lifecycle.TokenFileName)
	}
	if o.sup.TokenFile, err = filepath.Abs(tf); err != nil {
		return nil, refuse("--token-file: %v", err)
	}
	if !set["no-health-exemption"] {
		if v, ok := lookupEnv(EnvStrict); ok && strings.TrimSpace(v) != "" && strings.TrimSpace(v) != "0" && !strings.EqualFold(strings.TrimSpace(v), "false") {
			*strict = true
		}
	}
	if *grace <= 0 || *ready <= 0 {
		return nil, refuse("%s: --grace and --ready-timeout must be positive", cmd)
	}
	o.sup.Grace, o.sup.ReadyTimeout = *grace, *ready
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find my own executable: %v", err)
	}
	o.sup.Argv = []string{exe, "--token-file", o.sup.TokenFile, "--port", fmt.Sprint(o.sup.Port), "--backend-port", fmt.Sprint(o.sup.BackendPort)}
	if *strict {
		o.sup.Argv = append(o.sup.Argv, "--no-health-exemption")
	}
	o.sup.Env = daemonEnviron()
	return o, nil
}

// daemonEnviron is this process's environment without the launch contract
// (the daemon's configuration is all in its arguments: a stray
// OLLAMA_PROXY_TOKEN would otherwise win over the token file) plus the marker.
func daemonEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case EnvToken, EnvTokenFile, EnvPort, EnvBackendPort, EnvStrict, daemonEnv:
			continue
		}
		env = append(env, kv)
	}
	return append(env, daemonEnv+"=1")
}

func runLifecycle(ctx context.Context, cmd string, args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	o, err := parseLifecycle(cmd, args, lookupEnv, stdout)
	if err != nil {
		return err
	}
	s := &o.sup
	report := func(v any, human string) error {
		if o.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		_, err := fmt.Fprintln(stdout, human)
		return err
	}
	switch cmd {
	case "start":
		rec, err := s.Start(ctx)
		if err != nil {
			return err
		}
		return report(rec, fmt.Sprintf("%s: started pid %d on port %d (token file %s, log %s)", name, rec.PID, rec.Port, rec.TokenFile, s.LogFile()))
	case "ensure":
		out, err := s.Ensure(ctx)
		if err != nil {
			return err
		}
		return report(out, fmt.Sprintf("%s: %s (pid %d): %s", name, out.Action, out.PID, out.Reason))
	case "stop":
		res, err := s.Stop(ctx)
		if err != nil {
			return err
		}
		return report(res, name+": "+res.Note)
	case "status":
		st := s.Status(ctx)
		if err := report(st, humanStatus(st)); err != nil {
			return err
		}
		switch {
		case !st.Running:
			return errors.New("status: the proxy is not running")
		case !st.OK():
			return fmt.Errorf("status: %d problem(s) found", len(st.Problems))
		}
		return nil
	}
	return refuse("unknown command %q", cmd)
}

func humanStatus(st lifecycle.Status) string {
	var b strings.Builder
	state := "not running"
	if st.Running {
		state = fmt.Sprintf("running (pid %d)", st.PID)
	}
	fmt.Fprintf(&b, "proxy:      %s on port %d\n", state, st.Port)
	if st.PIDFileNote != "" {
		fmt.Fprintf(&b, "pid file:   %s (%s)\n", st.PIDFile, st.PIDFileNote)
	} else {
		fmt.Fprintf(&b, "pid file:   %s\n", st.PIDFile)
	}
	for _, o := range st.PortOwners {
		fmt.Fprintf(&b, "port owner: %s\n", o)
	}
	fmt.Fprintf(&b, "token file: %s (mode %s)\n", st.TokenFile, orDash(st.TokenFileMode))
	fmt.Fprintf(&b, "backend:    127.0.0.1:%d reachable=%t loopback-only=%t listeners=%s\n", st.BackendPort, st.BackendReachable, st.BackendLoopbackOnly, strings.Join(st.BackendListeners, ","))
	for _, p := range st.Problems {
		fmt.Fprintf(&b, "problem:    %s\n", p)
	}
	return strings.TrimRight(b.String(), "\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runTokenCommand is "token": with --state-dir the token file defaults to
// <state-dir>/token; after --rotate, the proxy the state directory supervises
// (verified through its PID file) is told to re-read it and the command
// returns once the new token is accepted. Without --state-dir it is the
// plain token subcommand, and a rotation still reloads the proxy of the
// default state directory when that proxy reads the rotated file.
func runTokenCommand(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	var stateDir string
	var rest []string
	rotate, tokenFileSet := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--state-dir" || a == "-state-dir":
			if i+1 >= len(args) {
				return refuse("token: --state-dir needs a directory")
			}
			stateDir = args[i+1]
			i++
			continue
		case strings.HasPrefix(a, "--state-dir=") || strings.HasPrefix(a, "-state-dir="):
			_, stateDir, _ = strings.Cut(a, "=")
			continue
		case a == "--rotate" || a == "-rotate" || a == "--rotate=true" || a == "-rotate=true":
			rotate = true
		case a == "--token-file" || a == "-token-file" || strings.HasPrefix(a, "--token-file=") || strings.HasPrefix(a, "-token-file="):
			tokenFileSet = true
		}
		rest = append(rest, a)
	}
	explicit := stateDir != ""
	if !explicit {
		if d, err := lifecycle.DefaultStateDir(lookupEnv); err == nil {
			stateDir = d
		}
	}
	if explicit && !tokenFileSet {
		if _, ok := lookupEnv(EnvTokenFile); !ok {
			rest = append([]string{"--token-file", filepath.Join(stateDir, lifecycle.TokenFileName)}, rest...)
		}
	}
	if explicit {
		sup := lifecycle.Supervisor{StateDir: stateDir}
		if _, err := sup.Token(); err != nil { // creates the 0700 directory
			return refuse("%v", err)
		}
	}
	var printed strings.Builder
	if err := runToken(rest, lookupEnv, io.MultiWriter(stdout, &printed)); err != nil || !rotate || stateDir == "" {
		return err
	}
	return reloadAfterRotate(stateDir, strings.TrimSpace(printed.String()), explicit)
}

// reloadAfterRotate signals the supervised proxy to re-read its token file,
// then waits until it accepts the new token.
func reloadAfterRotate(stateDir, token string, explicit bool) error {
	rec, err := lifecycle.ReadRecord(filepath.Join(stateDir, lifecycle.PIDFileName))
	if err != nil || rec == nil {
		return nil // nothing supervised runs: the next start reads the file
	}
	sup := lifecycle.Supervisor{StateDir: stateDir, Port: rec.Port}
	pid, err := sup.Reload()
	if err != nil {
		if explicit {
			return err
		}
		return nil
	}
	if pid == 0 {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if lifecycle.ProbePort(context.Background(), rec.Port, token).Accepts() {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("the token file was rotated, but the running proxy (pid %d) did not take the new token within 5s: restart it with ensure", pid)
}

// reloadOnHangup makes a proxy serving from a token file re-read it on
// SIGHUP and switch to the token it holds: requests already authenticated
// (streams in flight) go on; from then on the old token is refused. A file
// that went missing or holds no usable token leaves the current token in
// place. The returned function stops listening for SIGHUP.
func reloadOnHangup(h *proxy.Handler, o *options, source string, redactor *proxy.RedactingHandler, logger *slog.Logger) func() {
	if !strings.HasPrefix(source, "file ") || o.tokenFile == "" {
		return func() {}
	}
	path := o.tokenFile
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ch:
			}
			if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
				logger.Error("SIGHUP: token file is missing: keeping the current token", "token_file", path)
				continue
			}
			tok, warnings, err := proxy.LoadOrCreateTokenFile(path)
			if err == nil {
				redactor.AddSecret(tok)
				err = h.SetToken(tok)
			}
			if err != nil {
				logger.Error("SIGHUP: cannot reload the token: keeping the current token", "error", err.Error())
				continue
			}
			for _, w := range warnings {
				logger.Warn(w)
			}
			logger.Info("SIGHUP: token reloaded from the token file", "token_file", path)
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
