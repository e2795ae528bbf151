package target

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

// Exec starts any command with the launch contract in its environment.
type Exec struct {
	Command  string // "prog args" run directly, or a shell line for /bin/sh -c; own process group
	Dir      string
	ExtraEnv map[string]string // from the target descriptor
	Declared []catalog.Capability
}

func (e *Exec) Kind() string   { return "exec" }
func (e *Exec) String() string { return "exec: " + e.Command }

func (e *Exec) Caps() Caps {
	c := Caps{catalog.Lifecycle: true, catalog.Output: true}
	for _, d := range e.Declared {
		c[d] = true
	}
	return c
}

func (e *Exec) Start(ctx context.Context, l Launch) (Instance, error) {
	cmd := command(e.Command)
	cmd.Dir = e.Dir
	cmd.Env = contractEnv(e.ExtraEnv, l.Env)
	out := &outputBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: Kill reaches the proxy and every child it forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %w", e.Command, err)
	}
	p := &process{cmd: cmd, out: out, addr: loopback(l.Port), done: make(chan struct{})}
	go p.wait()
	return p, nil
}

// command runs a plain "prog arg..." line directly, so signals and the exit
// status are the proxy's own; anything with shell syntax goes through sh,
// which then stands between the harness and the proxy.
func command(line string) *exec.Cmd {
	if !strings.ContainsAny(line, ";&|<>()$`\\\"'*?[]#~={}%\n") {
		if f := strings.Fields(line); len(f) > 0 {
			return exec.Command(f[0], f[1:]...)
		}
	}
	return exec.Command("/bin/sh", "-c", line)
}

// contractEnv is the parent's environment without any OLLAMA_* variable, so a
// stray setting on the developer's machine never changes the launch.
func contractEnv(extra, contract map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OLLAMA_") {
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	for k, v := range contract {
		env = append(env, k+"="+v)
	}
	return env
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

type process struct {
	cmd  *exec.Cmd
	out  *outputBuffer
	addr string
	done chan struct{}
	code int
}

func (p *process) wait() {
	_ = p.cmd.Wait()
	p.code = p.cmd.ProcessState.ExitCode()
	close(p.done)
}

func (p *process) Addr() string          { return p.addr }
func (p *process) Output() string        { return p.out.String() }
func (p *process) Done() <-chan struct{} { return p.done }
func (p *process) ExitCode() int         { <-p.done; return p.code }

func (p *process) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

func (p *process) Stop(ctx context.Context) error {
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		_ = p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("proxy ignored SIGTERM; killed")
	}
}

func (p *process) Kill() error {
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}
