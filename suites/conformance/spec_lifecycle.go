package conformance

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/proxy/cli"
	"github.com/tollgate-dev/tollgate/proxy/lifecycle"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// The lifecycle specs (group "lifecycle", capability supervisor) drive the
// target's own supervisor through the contract catalog/lifecycle.go states:
// `<command> ensure|stop|token --rotate --state-dir DIR`, with the launch
// contract's ports in the environment and the token in DIR/token. The
// builtin target runs them through proxy/cli.Main; its daemon is a real,
// separate process (the binary re-executes itself).

// harmlessEnv turns whatever binary links this package (tollgate, the suite's
// test binary) into a harmless listener that is not a proxy: the "foreign
// process on the port" the supervisor must never kill.
const harmlessEnv = "TOLLGATE_HARMLESS_LISTEN"

func init() {
	addr := os.Getenv(harmlessEnv)
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		os.Exit(3)
	}
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "a harmless listener\n") }))
	os.Exit(0)
}

// supervised is one state directory and one proxy port.
type supervised struct {
	dir  string
	port int
	env  map[string]string
}

func newSupervised() *supervised {
	base, err := os.MkdirTemp("", "tollgate-life-")
	if err != nil {
		HarnessFail("temp dir: %v", err)
	}
	l := H.Contract("", "")
	sv := &supervised{dir: filepath.Join(base, "state"), port: l.Port, env: l.Env}
	DeferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sv.run(ctx, "stop")
		// Whatever still listens on the harness's own port was started by
		// this spec: the target's proxy if its stop failed.
		if owners, _ := lifecycle.PortOwners(sv.port); len(owners) > 0 {
			for _, o := range owners {
				if o.PID > 0 && o.PID != os.Getpid() {
					_ = syscall.Kill(o.PID, syscall.SIGKILL)
				}
			}
		}
		_ = os.RemoveAll(base)
	})
	return sv
}

// run runs one supervisor subcommand and returns its exit status and output.
func (sv *supervised) run(ctx context.Context, sub string, args ...string) (int, string) {
	args = append([]string{sub}, append(args, "--state-dir", sv.dir)...)
	if sub == "token" {
		args = append(args, "--rotate")
	}
	switch t := H.cfg.Target.(type) {
	case *target.Builtin:
		var out bytes.Buffer
		lookup := func(k string) (string, bool) { v, ok := sv.env[k]; return v, ok }
		code := cli.Main(ctx, args, lookup, &out, &out)
		return code, out.String()
	case *target.Exec:
		return sv.runExec(ctx, t, args)
	}
	HarnessFail("a %s target cannot run supervisor subcommands", H.cfg.Target.Kind())
	return -1, ""
}

func (sv *supervised) runExec(ctx context.Context, t *target.Exec, args []string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if f := strings.Fields(t.Command); len(f) > 0 && !strings.ContainsAny(t.Command, ";&|<>()$`\\\"'*?[]#~={}%\n") {
		cmd = exec.CommandContext(ctx, f[0], append(f[1:], args...)...)
	} else {
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", t.Command+" "+strings.Join(quoted, " "))
	}
	cmd.Dir = t.Dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OLLAMA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range t.ExtraEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range sv.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second // a daemon that keeps our pipes must not hang the harness
	err := cmd.Run()
	if cmd.ProcessState == nil {
		HarnessFail("running %q: %v", t.Command, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

func (sv *supervised) mustRun(ctx context.Context, sub string, args ...string) string {
	code, out := sv.run(ctx, sub, args...)
	ExpectWithOffset(1, code).To(BeZero(), "`%s` exit status; output:\n%s", sub, out)
	return out
}

func (sv *supervised) token() string {
	b, err := os.ReadFile(filepath.Join(sv.dir, "token"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "reading DIR/token")
	t := strings.TrimSpace(string(b))
	Secret(t)
	return t
}

func (sv *supervised) addr() string { return "127.0.0.1:" + strconv.Itoa(sv.port) }

// via sends requests to the supervised proxy.
func (sv *supervised) via() *Harness { return H.On(addrOnly(sv.addr())) }

// owner is the PID of the process listening on the proxy port (0: none).
func (sv *supervised) owner() int {
	owners, err := lifecycle.PortOwners(sv.port)
	if err != nil {
		HarnessFail("reading /proc for the port owner: %v", err)
	}
	if len(owners) == 0 {
		return 0
	}
	return owners[0].PID
}

// startHarmless starts a listener that is not a proxy on the port, as a
// separate process, and returns its PID.
func (sv *supervised) startHarmless() int {
	exe, err := os.Executable()
	if err != nil {
		HarnessFail("own executable: %v", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), harmlessEnv+"=0.0.0.0:"+strconv.Itoa(sv.port))
	if err := cmd.Start(); err != nil {
		HarnessFail("starting the harmless listener: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	DeferCleanup(func() { _ = cmd.Process.Kill(); <-exited })
	if err := waitListening(context.Background(), sv.addr(), nil); err != nil {
		HarnessFail("the harmless listener did not listen: %v", err)
	}
	return cmd.Process.Pid
}

func processAlive(pid int) bool {
	_, err := lifecycle.ReadProc(pid)
	return err == nil
}

// addrOnly is a target.Instance that is only an address.
type addrOnly string

func (a addrOnly) Addr() string                 { return string(a) }
func (a addrOnly) Output() string               { return "" }
func (a addrOnly) Done() <-chan struct{}        { return nil }
func (a addrOnly) ExitCode() int                { return -1 }
func (a addrOnly) Stop(_ context.Context) error { return nil }
func (a addrOnly) Kill() error                  { return nil }

var _ target.Instance = addrOnly("")

var _ = Requirement("LIFE-001", func(ctx SpecContext) {
	sv := newSupervised()
	sv.mustRun(ctx, "ensure")
	via := sv.via()
	ExpectRejected(via.Get(ctx, protected), "right after ensure returned, without a token")
	ExpectForwarded(via.Get(ctx, protected, Bearer(sv.token())), "right after ensure returned, with the token in DIR/token")
})

var _ = Requirement("LIFE-002", func(ctx SpecContext) {
	sv := newSupervised()
	sv.mustRun(ctx, "ensure")
	tok := sv.token()
	first := sv.owner()
	Expect(first).NotTo(BeZero(), "a process listens on the port after ensure")
	streamed := make(chan Stream, 1)
	go func() {
		defer GinkgoRecover()
		streamed <- sv.via().Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, append(paced(15, 100*time.Millisecond), Bearer(tok))...)
	}()
	time.Sleep(300 * time.Millisecond)
	sv.mustRun(ctx, "ensure")
	Expect(sv.owner()).To(Equal(first), "the process on the port after a second ensure")
	var s Stream
	Eventually(streamed).WithTimeout(20 * time.Second).Should(Receive(&s))
	Expect(s.Err).NotTo(HaveOccurred(), "the stream in flight during the second ensure")
	Expect(hasDone(s)).To(BeTrue(), "the stream in flight during the second ensure must finish")
	ExpectForwarded(sv.via().Get(ctx, protected, Bearer(tok)), "the token after the second ensure")
})

var _ = Requirement("LIFE-003", func(ctx SpecContext) {
	sv := newSupervised()
	sv.mustRun(ctx, "ensure")
	old := sv.token()
	// Replace the token behind the running proxy's back: it is now stale.
	fresh := NewToken()
	Secret(fresh)
	file := filepath.Join(sv.dir, "token")
	tmp := file + ".new"
	Expect(os.WriteFile(tmp, []byte(fresh+"\n"), 0o600)).To(Succeed())
	Expect(os.Rename(tmp, file)).To(Succeed())
	ExpectRejected(sv.via().Get(ctx, protected, Bearer(fresh)), "setup: the running proxy must not know the new token yet")
	sv.mustRun(ctx, "ensure")
	ExpectForwarded(sv.via().Get(ctx, protected, Bearer(fresh)), "the token in DIR/token after ensure")
	ExpectRejected(sv.via().Get(ctx, protected, Bearer(old)), "the stale token after ensure")
})

var _ = Requirement("LIFE-004", func(ctx SpecContext) {
	sv := newSupervised()
	// Our proxy dies by SIGKILL (its PID file, if any, is now stale) and a
	// process we did not start takes the port.
	sv.mustRun(ctx, "ensure")
	proxyPID := sv.owner()
	Expect(proxyPID).NotTo(BeZero(), "a process listens on the port after ensure")
	Expect(syscall.Kill(proxyPID, syscall.SIGKILL)).To(Succeed())
	Expect(WaitClosed(sv.addr(), 5*time.Second)).To(BeTrue(), "the port closes once the proxy is killed")
	pid := sv.startHarmless()

	code, out := sv.run(ctx, "ensure")
	Expect(code).NotTo(BeZero(), "ensure with a foreign process on the port must fail; output:\n%s", out)
	Expect(processAlive(pid)).To(BeTrue(), "ensure killed a process it did not start")
	code, out = sv.run(ctx, "stop")
	Expect(processAlive(pid)).To(BeTrue(), "stop killed a process it did not start (exit %d; output:\n%s)", code, out)
	Expect(Listening(sv.addr())).To(BeTrue(), "the foreign process's port after stop")
})

var _ = Requirement("LIFE-005", func(ctx SpecContext) {
	sv := newSupervised()
	sv.mustRun(ctx, "ensure")
	old := sv.token()
	first := sv.owner()
	streamed := make(chan Stream, 1)
	go func() {
		defer GinkgoRecover()
		streamed <- sv.via().Stream(ctx, "POST", "/api/generate", strings.NewReader(genBody), nil, append(paced(15, 100*time.Millisecond), Bearer(old))...)
	}()
	time.Sleep(300 * time.Millisecond)
	sv.mustRun(ctx, "token")
	fresh := sv.token()
	Expect(fresh).NotTo(Equal(old), "token --rotate must write a new token to DIR/token")
	ExpectForwarded(sv.via().Get(ctx, protected, Bearer(fresh)), "the new token once token --rotate returned")
	ExpectRejected(sv.via().Get(ctx, protected, Bearer(old)), "the old token once token --rotate returned")
	Expect(sv.owner()).To(Equal(first), "the process on the port after the rotation (a restart is not a rotation)")
	var s Stream
	Eventually(streamed).WithTimeout(20 * time.Second).Should(Receive(&s))
	Expect(s.Err).NotTo(HaveOccurred(), "the stream in flight during the rotation")
	Expect(hasDone(s)).To(BeTrue(), "the stream in flight during the rotation must finish")
})

var _ = Requirement("LIFE-006", func(ctx SpecContext) {
	sv := newSupervised()
	sv.mustRun(ctx, "ensure")
	pid := sv.owner()
	Expect(pid).NotTo(BeZero(), "a process listens on the port after ensure")
	sv.mustRun(ctx, "stop")
	Expect(WaitClosed(sv.addr(), 2*time.Second)).To(BeTrue(), "the port after stop")
	Eventually(func() bool { return processAlive(pid) }).WithTimeout(5*time.Second).Should(BeFalse(), "the proxy process after stop")
	sv.mustRun(ctx, "stop")
})

var _ = Requirement("LIFE-007", func(ctx SpecContext) {
	sv := newSupervised()
	sv.mustRun(ctx, "ensure")
	pid := sv.owner()
	Expect(pid).NotTo(BeZero(), "a process listens on the port after ensure")
	Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())
	Expect(WaitClosed(sv.addr(), 5*time.Second)).To(BeTrue(), "the port closes once the proxy is killed")
	sv.mustRun(ctx, "ensure")
	Expect(sv.owner()).NotTo(BeElementOf(0, pid), "a new process on the port")
	ExpectForwarded(sv.via().Get(ctx, protected, Bearer(sv.token())), "the token after ensure recovered from SIGKILL")
})
