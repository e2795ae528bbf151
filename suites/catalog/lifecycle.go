package catalog

// Lifecycle requirements: a proxy that supervises itself. They apply to
// targets declaring the Supervisor capability, whose command takes these
// subcommands (the contract the specs use), each with `--state-dir DIR` and
// the launch contract's OLLAMA_PROXY_PORT and OLLAMA_BACKEND_PORT in the
// environment; the token lives in DIR/token:
//
//	<command> ensure --state-dir DIR         exit 0 once the proxy on the port accepts the token in DIR/token
//	<command> stop --state-dir DIR           stop the proxy this DIR started, only that one
//	<command> token --rotate --state-dir DIR write a new token to DIR/token and make the running proxy use it
//
// The reference proxy implements them (proxy/lifecycle, proxy/cli).

// Supervisor is the capability of a target whose command supervises the
// proxy in the background through the subcommands above.
const Supervisor Capability = "supervisor"

var supervisor = []Capability{Supervisor}

func init() {
	declare("lifecycle",
		Requirement{ID: "LIFE-001", Level: Must, Needs: supervisor, Text: "`ensure` MUST return only once the proxy it started answers 401 without a token and accepts the token in DIR/token, with no further wait."},
		Requirement{ID: "LIFE-002", Level: Must, Needs: supervisor, Text: "`ensure` MUST be idempotent: run again against a healthy proxy it MUST leave the same process on the port and MUST NOT interrupt a stream in flight."},
		Requirement{ID: "LIFE-003", Level: Must, Needs: supervisor, Text: "`ensure` MUST replace the proxy it started when that proxy no longer accepts the token in DIR/token (a stale token), after which the old token MUST be refused."},
		Requirement{ID: "LIFE-004", Level: Must, Needs: supervisor, Text: "`ensure` and `stop` MUST NOT kill a process they did not start that listens on the proxy port, even after the proxy they started died by SIGKILL, and `ensure` MUST then exit non-zero."},
		Requirement{ID: "LIFE-005", Level: Must, Needs: supervisor, Text: "`token --rotate` while the proxy runs MUST let a stream in flight finish intact, MUST keep the same process on the port, and once it returns the new token MUST be accepted and the old one refused."},
		Requirement{ID: "LIFE-006", Level: Must, Needs: supervisor, Text: "`stop` MUST stop the proxy `ensure` started (the port closes and the process exits), and a second `stop` MUST exit 0."},
		Requirement{ID: "LIFE-007", Level: Must, Needs: supervisor, Text: "After the proxy `ensure` started is killed with SIGKILL, `ensure` MUST start a new one that accepts the token."},
	)
}
