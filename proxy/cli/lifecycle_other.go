//go:build !unix

package cli

import (
	"io"
	"log/slog"

	"github.com/tollgate-dev/tollgate/proxy"
)

// The supervisor subcommands (start, ensure, stop, status) need Unix
// process control and Linux /proc; elsewhere they are unknown arguments.

func isLifecycleCommand([]string) bool { return false }

func runLifecycle(_ any, cmd string, _ []string, _ func(string) (string, bool), _ io.Writer) error {
	return refuse("%s: not supported on this platform", cmd)
}

func runTokenCommand(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	return runToken(args, lookupEnv, stdout)
}

func reloadOnHangup(*proxy.Handler, *options, string, *proxy.RedactingHandler, *slog.Logger) func() {
	return func() {}
}
