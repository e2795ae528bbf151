package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tollgate-dev/tollgate/proxy/lifecycle"
	"github.com/tollgate-dev/tollgate/suites/doctor"
)

// doctorCmd checks the live host: Ollama on loopback only, an auth proxy on
// the proxy port, the token file and its token, the exempt route and, with
// --container, what a container can reach. Exit 0 all good, 1 any failure,
// 2 bad flags.
func doctorCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tollgate doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 11435, "the proxy's port")
	backend := fs.Int("backend-port", 11434, "Ollama's port")
	stateDir := fs.String("state-dir", "", "ollama-auth-proxy's state directory (default $XDG_STATE_HOME/ollama-auth-proxy or ~/.local/state/ollama-auth-proxy)")
	tokenFile := fs.String("token-file", "", "the token file (default <state-dir>/token)")
	strict := fs.Bool("strict", false, "the proxy runs without the health exemption: GET /api/tags must be 401")
	container := fs.Bool("container", false, "also probe from a container (image tollgate/probe:dev via host-gateway): proxy port reachable, backend port not")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tollgate doctor [flags]\n\nChecks this host's real Ollama and auth proxy (no mock); each check gives a verdict and a fix.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tollgate doctor: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	path := *tokenFile
	if path == "" {
		dir := *stateDir
		if dir == "" {
			d, err := lifecycle.DefaultStateDir(os.LookupEnv)
			if err != nil {
				fmt.Fprintf(stderr, "tollgate doctor: %v\n", err)
				return 2
			}
			dir = d
		}
		path = filepath.Join(dir, lifecycle.TokenFileName)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := doctor.Options{ProxyPort: *port, BackendPort: *backend, TokenFile: path, Strict: *strict, Container: *container}
	if *container {
		o.ContainerCheck = doctor.ContainerChecks
	}
	r := doctor.Run(ctx, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		for _, c := range r.Checks {
			fmt.Fprintf(stdout, "%-4s  %-22s %s\n", c.Verdict, c.ID, c.Detail)
			if c.Fix != "" && c.Verdict == doctor.Fail {
				fmt.Fprintf(stdout, "      %-22s fix: %s\n", "", c.Fix)
			}
		}
	}
	if !r.OK {
		return 1
	}
	return 0
}
