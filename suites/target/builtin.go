package target

import (
	"context"
	"fmt"
	"sync"

	"github.com/tollgate-dev/tollgate/proxy/cli"
	"github.com/tollgate-dev/tollgate/suites/catalog"
)

// Builtin runs the reference proxy in-process through the same entry point
// as the binary, so exit codes, refusals and output are the real ones.
type Builtin struct {
	Args []string // extra command-line flags, e.g. --no-health-exemption
}

func (b *Builtin) Kind() string   { return "builtin" }
func (b *Builtin) String() string { return "builtin: reference ollama-auth-proxy (in-process)" }

func (b *Builtin) Caps() Caps {
	return Caps{catalog.Lifecycle: true, catalog.Output: true, catalog.TokenFile: true, catalog.Supervisor: true}
}

func (b *Builtin) Start(_ context.Context, l Launch) (Instance, error) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &inProcess{addr: loopback(l.Port), cancel: cancel, done: make(chan struct{}), out: &outputBuffer{}}
	env := make(map[string]string, len(l.Env))
	for k, v := range l.Env {
		env[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() {
		defer close(in.done)
		defer func() {
			// A panic in the proxy is the proxy's failure, reported like a crash.
			if r := recover(); r != nil {
				fmt.Fprintf(in.out, "panic: %v\n", r)
				in.code = 2
			}
		}()
		in.code = cli.Main(ctx, append([]string(nil), b.Args...), lookup, in.out, in.out)
	}()
	return in, nil
}

type inProcess struct {
	addr   string
	out    *outputBuffer
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	code   int
}

func (p *inProcess) Addr() string          { return p.addr }
func (p *inProcess) Output() string        { return p.out.String() }
func (p *inProcess) Done() <-chan struct{} { return p.done }
func (p *inProcess) ExitCode() int         { <-p.done; return p.code }

// Stop is SIGTERM: the proxy closes its listener and drains in-flight requests.
func (p *inProcess) Stop(ctx context.Context) error {
	p.once.Do(p.cancel)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("builtin proxy did not finish draining: %w", ctx.Err())
	}
}

// Kill is as close to SIGKILL as in-process allows: the listener closes at
// once and the caller does not wait for in-flight requests to drain.
func (p *inProcess) Kill() error {
	p.once.Do(p.cancel)
	return nil
}
