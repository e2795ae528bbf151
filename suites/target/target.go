// Package target starts the proxy under test. Every kind honours the launch
// contract (OLLAMA_PROXY_TOKEN, OLLAMA_PROXY_PORT, OLLAMA_BACKEND_PORT and,
// when declared, OLLAMA_PROXY_TOKEN_FILE) so the specs never care which kind
// they are judging.
package target

import (
	"context"
	"errors"
	"fmt"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

// Launch is one start of the proxy.
type Launch struct {
	Env  map[string]string // the launch contract, nothing else
	Port int               // OLLAMA_PROXY_PORT, repeated for convenience
}

// Instance is a started proxy.
type Instance interface {
	Addr() string                   // host:port the proxy answers on
	Output() string                 // stdout and stderr so far ("" when not visible)
	Done() <-chan struct{}          // closed once the proxy has exited
	ExitCode() int                  // valid after Done; -1 when killed by a signal
	Stop(ctx context.Context) error // SIGTERM, then wait for exit until ctx ends
	Kill() error                    // immediate, like SIGKILL
}

// Target knows how to start one kind of proxy.
type Target interface {
	Kind() string
	String() string // human description, never holding a token
	Caps() Caps
	Start(ctx context.Context, l Launch) (Instance, error)
}

// Caps says what the harness can do with a target.
type Caps map[catalog.Capability]bool

// ErrNoLifecycle is returned by targets the harness does not own.
var ErrNoLifecycle = errors.New("this target kind is not started by the harness")

// ExitError describes a proxy that exited before it was ready.
type ExitError struct {
	Code   int
	Output string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("proxy exited with status %d before listening", e.Code)
}
