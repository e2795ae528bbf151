package containers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// HostNetImage judges a proxy image with the request-level suites, as an exec
// target is judged: every start is a new container on the host's network, so
// the launch contract's ports are host ports and the harness's own mock on
// 127.0.0.1 is the proxy's backend. The network requirements need the
// container topology instead (tollgate run --image without --host-network).
// Linux engines only: Docker Desktop's "host" is its virtual machine.
type HostNetImage struct {
	Session  *Session
	Image    string
	ExtraEnv map[string]string    // from the target descriptor; the launch contract wins
	Declared []catalog.Capability // token-file; supervisor does not apply to an image
}

func (t *HostNetImage) Kind() string   { return "image" }
func (t *HostNetImage) String() string { return "image: " + t.Image + " (host network)" }

func (t *HostNetImage) Caps() target.Caps {
	c := target.Caps{catalog.Lifecycle: true, catalog.Output: true}
	for _, d := range t.Declared {
		if d != catalog.Supervisor {
			c[d] = true
		}
	}
	return c
}

// Start runs one container with the launch contract as its environment.
func (t *HostNetImage) Start(ctx context.Context, l target.Launch) (target.Instance, error) {
	spec := ContainerSpec{Image: t.Image, Env: launchEnv(t.ExtraEnv, l.Env), NetworkMode: "host", Labels: t.Session.Labels("proxy-hostnet")}
	if f := l.Env["OLLAMA_PROXY_TOKEN_FILE"]; f != "" {
		// The file is judged on the host, at the same path: mount its
		// nearest existing directory there, and run as the harness's user
		// so what the proxy creates belongs to whoever checks it.
		dir := existingAncestor(filepath.Dir(f))
		spec.Binds = []string{dir + ":" + dir}
		spec.User = strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid())
	}
	d := t.Session.Driver
	id, err := d.Run(ctx, spec)
	if err != nil {
		return nil, err
	}
	c := &hostNetProc{d: d, id: id, addr: "127.0.0.1:" + strconv.Itoa(l.Port), done: make(chan struct{})}
	go c.wait()
	return c, nil
}

// launchEnv is extra with the launch contract on top: the contract wins.
func launchEnv(extra, contract map[string]string) map[string]string {
	env := make(map[string]string, len(extra)+len(contract))
	maps.Copy(env, extra)
	maps.Copy(env, contract)
	return env
}

// existingAncestor returns dir or its nearest ancestor that exists.
func existingAncestor(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

// hostNetProc is one started container, seen as a process.
type hostNetProc struct {
	d      Driver
	id     string
	addr   string
	done   chan struct{}
	code   int
	killed atomic.Bool
}

func (c *hostNetProc) wait() {
	code, err := c.d.Wait(context.Background(), c.id)
	if err != nil || c.killed.Load() {
		code = -1 // as a process killed by a signal
	}
	c.code = code
	close(c.done)
}

func (c *hostNetProc) Addr() string          { return c.addr }
func (c *hostNetProc) Done() <-chan struct{} { return c.done }
func (c *hostNetProc) ExitCode() int         { <-c.done; return c.code }

// Output is the container's log, stdout then stderr.
func (c *hostNetProc) Output() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, errOut, err := c.d.Logs(ctx, c.id)
	if err != nil {
		return ""
	}
	return out + errOut
}

// Stop is docker stop: SIGTERM, then SIGKILL when ctx's deadline (or 10 s)
// has passed.
func (c *hostNetProc) Stop(ctx context.Context) error {
	grace := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		grace = max(time.Until(dl), 0)
	}
	if err := c.d.Stop(context.WithoutCancel(ctx), c.id, grace); err != nil {
		return err
	}
	<-c.done
	if c.code == 137 { // 128 + SIGKILL: the engine had to kill it
		return errors.New("proxy ignored SIGTERM; killed")
	}
	return nil
}

func (c *hostNetProc) Kill() error {
	c.killed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.d.Kill(ctx, c.id); err != nil {
		return fmt.Errorf("kill container %s: %w", shortID(c.id), err)
	}
	<-c.done
	return nil
}

func shortID(id string) string { return id[:min(12, len(id))] }
