// Command tollgate judges an Ollama auth proxy against the conformance
// catalogue: `tollgate run` (builtin, --exec, --url), `tollgate list`,
// `tollgate version`.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at release time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: tollgate <command> [flags]

commands:
  run       judge a proxy against every requirement (default target: the builtin reference proxy)
  list      print the requirement catalogue (--format table|markdown|json)
  init      write a commented target descriptor (tollgate.yaml) for 'run -f'
  doctor    check the live host: Ollama on loopback only, an auth proxy on the port, the token file
  bench     measure the proxy's cost against the direct path to the mock (throughput, latency, streams, memory)
  soak      hold 1,000+ mixed clients through the reference proxy and verify every byte
  cleanup   remove the containers, networks and volumes a run left behind (labelled tollgate.run)
  version   print the tool and catalogue versions

run 'tollgate <command> --help' for its flags`

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "soak":
		return soakCmd(args[1:], stdout, stderr)
	case "cleanup":
		return cleanupCmd(args[1:], stdout, stderr)
	case "list":
		return listCmd(args[1:], stdout, stderr)
	case "init":
		return initCmd(args[1:], stdout, stderr)
	case "doctor":
		return doctorCmd(args[1:], stdout, stderr)
	case "version", "--version":
		return versionCmd(stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tollgate: unknown command %q (try 'tollgate help')\n", args[0])
	return 2
}

// toolVersion is the release version, else the module version and VCS commit.
func toolVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return v
}
