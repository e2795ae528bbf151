// Package cli is the whole ollama-auth-proxy command line as a library, so a
// test harness can run the proxy in-process exactly like the binary.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"

	"github.com/tollgate-dev/tollgate/proxy"
)

// Exit codes.
const (
	ExitOK      = 0 // clean shutdown
	ExitRuntime = 1 // runtime failure, e.g. cannot listen
	ExitConfig  = 2 // refused configuration
)

const name = "ollama-auth-proxy"

// Version is reported by --version; release builds set it with
// -ldflags "-X github.com/tollgate-dev/tollgate/proxy/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// listen is net.Listen; tests replace it to prove refusals never listen.
var listen = net.Listen

// configError is a refusal to start: exit 2 with one line on stderr.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// Main runs ollama-auth-proxy. ctx cancellation means SIGTERM (graceful shutdown). Returns the process exit code:
// 0 clean shutdown, 1 runtime failure (e.g. cannot listen), 2 refused configuration (one clear line on stderr, no panic trace).
func Main(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	args = subcommandFirst(args)
	var err error
	if len(args) > 0 && args[0] == "token" {
		err = runTokenCommand(args[1:], lookupEnv, stdout)
	} else if isLifecycleCommand(args) {
		err = runLifecycle(ctx, args[0], args[1:], lookupEnv, stdout)
	} else {
		err = run(ctx, args, lookupEnv, stdout, stderr)
	}
	return exitCode(err, stderr)
}

// subcommandFirst lets self-contained flags (`--flag` or `--flag=value`)
// precede a subcommand, as in `ollama-auth-proxy --no-health-exemption
// ensure`: a harness appends the subcommand to whatever command line the
// proxy is launched with. The subcommand parses those flags itself.
func subcommandFirst(args []string) []string {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			if i > 0 && (a == "token" || isLifecycleCommand(args[i:])) {
				out := []string{a}
				for _, f := range args[:i] {
					// The exemption is a serving setting: token handling has no use for it.
					if a != "token" || strings.TrimLeft(f, "-") != "no-health-exemption" {
						out = append(out, f)
					}
				}
				return append(out, args[i+1:]...)
			}
			return args
		}
		if !strings.Contains(a, "=") && !isBoolFlag(a) {
			return args // "--port 1234": the next word is a value, not a subcommand
		}
	}
	return args
}

func isBoolFlag(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "no-health-exemption", "json", "rotate":
		return true
	}
	return false
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelp) {
		return ExitOK
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err.Error()))
	var ce *configError
	if errors.As(err, &ce) {
		return ExitConfig
	}
	return ExitRuntime
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, lookupEnv, stdout)
	if err != nil {
		return err
	}
	if opts.showVersion {
		fmt.Fprintf(stdout, "%s %s\n", name, version())
		return nil
	}

	redactor := proxy.NewRedactingHandler(newLogHandler(stderr, opts.logFormat, opts.logLevel))
	logger := slog.New(redactor)

	token, source, warnings, err := resolveToken(opts)
	if err != nil {
		return err
	}
	redactor.AddSecret(token)

	cfg := proxy.Config{
		ListenAddr:            net.JoinHostPort("0.0.0.0", fmt.Sprint(opts.port)),
		BackendAddr:           net.JoinHostPort("127.0.0.1", fmt.Sprint(opts.backendPort)),
		Token:                 token,
		HealthExempt:          !opts.strict,
		ResponseHeaderTimeout: opts.responseHeaderTimeout,
		ShutdownGrace:         opts.shutdownGrace,
		Logger:                logger,
	}
	if err := cfg.Validate(); err != nil {
		return refuse("%v", err)
	}
	h, err := proxy.NewHandler(cfg)
	if err != nil {
		return refuse("%v", err)
	}
	defer reloadOnHangup(h, opts, source, redactor, logger)()

	// Everything is checked: only now open the port.
	// tcp4: exactly 0.0.0.0 as the launch contract says (and as the Node
	// script does), not a dual-stack [::] socket.
	ln, err := listen("tcp4", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v", cfg.ListenAddr, unwrapOpError(err))
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	if len(token) < 16 {
		logger.Warn("the token is shorter than 16 characters: use a long random token")
	}
	exemption := "on (GET /api/tags needs no token)"
	if opts.strict {
		exemption = "off (every request needs the token)"
	}
	logger.Info(name+" listening",
		"version", version(),
		"listen", ln.Addr().String(),
		"backend", cfg.BackendAddr,
		"health_exemption", exemption,
		"token_source", source)
	if err := proxy.Serve(ctx, ln, h, cfg); err != nil {
		return fmt.Errorf("serving on %s: %v", cfg.ListenAddr, err)
	}
	return nil
}

// resolveToken applies the precedence: --token, OLLAMA_PROXY_TOKEN, then the
// token file (--token-file, OLLAMA_PROXY_TOKEN_FILE). An empty token counts as
// none (fail closed); an explicitly empty --token is refused.
func resolveToken(o *options) (token, source string, warnings []string, err error) {
	switch {
	case o.tokenFlagSet:
		token, source = strings.TrimSpace(o.token), "flag --token"
		if token == "" {
			return "", "", nil, refuse("--token is empty: refusing to run without authentication")
		}
	case strings.TrimSpace(o.envToken) != "":
		token, source = strings.TrimSpace(o.envToken), "env OLLAMA_PROXY_TOKEN"
	}
	if token != "" {
		if o.tokenFile != "" {
			warnings = append(warnings, fmt.Sprintf("token file %s ignored: %s takes precedence", o.tokenFile, source))
		}
		return token, source, warnings, nil
	}
	if o.tokenFile == "" {
		return "", "", nil, refuse("no token: set OLLAMA_PROXY_TOKEN (or --token), or OLLAMA_PROXY_TOKEN_FILE (or --token-file)")
	}
	_, statErr := os.Lstat(o.tokenFile)
	created := errors.Is(statErr, os.ErrNotExist)
	token, warnings, err = proxy.LoadOrCreateTokenFile(o.tokenFile)
	if err != nil {
		return "", "", nil, refuse("%v", err)
	}
	source = "file " + o.tokenFile
	if created {
		source += " (created)"
	}
	return token, source, warnings, nil
}

func newLogHandler(w io.Writer, format string, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
