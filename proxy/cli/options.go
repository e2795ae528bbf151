package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/proxy"
)

// Environment variables of the launch contract.
const (
	EnvToken       = "OLLAMA_PROXY_TOKEN"
	EnvTokenFile   = "OLLAMA_PROXY_TOKEN_FILE"
	EnvPort        = "OLLAMA_PROXY_PORT"
	EnvBackendPort = "OLLAMA_BACKEND_PORT"
	EnvStrict      = "OLLAMA_PROXY_STRICT"
)

// Defaults of the launch contract.
const (
	DefaultPort        = 11435
	DefaultBackendPort = 11434
)

var errHelp = errors.New("help requested")

type options struct {
	token                 string
	tokenFlagSet          bool
	envToken              string
	tokenFile             string
	port                  int
	backendPort           int
	strict                bool
	responseHeaderTimeout time.Duration
	shutdownGrace         time.Duration
	logFormat             string
	logLevel              slog.Level
	showVersion           bool
}

const usageHead = `Usage: ollama-auth-proxy [flags]
       ollama-auth-proxy token [--token-file PATH] [--rotate]

Authenticating reverse proxy for a local Ollama: listens on 0.0.0.0:PORT,
requires "Authorization: Bearer <token>" and forwards to 127.0.0.1:BACKEND_PORT.
Flags win over environment variables.

Flags:
`

const usageTail = `
Exit status: 0 clean shutdown (SIGTERM/SIGINT drains in-flight requests),
1 runtime failure (e.g. cannot listen), 2 refused configuration.
`

func newFlagSet(o *options, sv *stringValues) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&sv.token, "token", "", "Bearer `token` to require (env "+EnvToken+"); required unless a token file is given")
	fs.StringVar(&sv.tokenFile, "token-file", "", "read the token from this `file`, creating it (mode 0600, new random token) when missing; used only when no token is given (env "+EnvTokenFile+")")
	fs.StringVar(&sv.port, "port", "", fmt.Sprintf("listen `port` on all interfaces (env %s, default %d)", EnvPort, DefaultPort))
	fs.StringVar(&sv.backendPort, "backend-port", "", fmt.Sprintf("Ollama's `port` on 127.0.0.1 (env %s, default %d)", EnvBackendPort, DefaultBackendPort))
	fs.BoolVar(&o.strict, "no-health-exemption", false, "require the token on GET /api/tags too (env "+EnvStrict+"=1)")
	fs.StringVar(&sv.responseHeaderTimeout, "response-header-timeout", proxy.DefaultResponseHeaderTimeout.String(), "`duration`: longest wait for Ollama's response headers (cold model loads); streams themselves are never cut")
	fs.StringVar(&sv.shutdownGrace, "shutdown-grace", proxy.DefaultShutdownGrace.String(), "`duration`: on SIGTERM, how long in-flight requests may finish before they are cut")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.StringVar(&sv.logLevel, "log-level", "info", "log `level`: debug (adds an access log line per request), info, warn or error")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	return fs
}

type stringValues struct {
	token, tokenFile, port, backendPort, responseHeaderTimeout, shutdownGrace, logLevel string
}

func usage(w io.Writer) {
	var o options
	fs := newFlagSet(&o, &stringValues{})
	fs.SetOutput(w)
	fmt.Fprint(w, usageHead)
	fs.PrintDefaults()
	fmt.Fprint(w, usageTail)
}

// parseOptions parses flags and environment. Errors are *configError.
func parseOptions(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) (*options, error) {
	o := &options{}
	var sv stringValues
	fs := newFlagSet(o, &sv)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return nil, errHelp
		}
		return nil, refuse("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, refuse("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if o.showVersion {
		return o, nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	o.tokenFlagSet = set["token"]
	o.token = sv.token
	o.envToken, _ = lookupEnv(EnvToken)
	o.tokenFile = sv.tokenFile
	if !set["token-file"] {
		o.tokenFile, _ = lookupEnv(EnvTokenFile)
	} else if sv.tokenFile == "" {
		return nil, refuse("--token-file is empty")
	}

	var err error
	if o.port, err = portValue("--port", sv.port, set["port"], EnvPort, DefaultPort, lookupEnv); err != nil {
		return nil, err
	}
	if o.backendPort, err = portValue("--backend-port", sv.backendPort, set["backend-port"], EnvBackendPort, DefaultBackendPort, lookupEnv); err != nil {
		return nil, err
	}
	if o.port == o.backendPort {
		return nil, refuse("listen port %d equals the backend port: the proxy would forward to itself", o.port)
	}
	if !set["no-health-exemption"] {
		if v, ok := lookupEnv(EnvStrict); ok && strings.TrimSpace(v) != "" {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return nil, refuse("%s=%q is not a boolean (use 1 or 0)", EnvStrict, v)
			}
			o.strict = b
		}
	}
	if o.responseHeaderTimeout, err = durationValue("--response-header-timeout", sv.responseHeaderTimeout); err != nil {
		return nil, err
	}
	if o.shutdownGrace, err = durationValue("--shutdown-grace", sv.shutdownGrace); err != nil {
		return nil, err
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return nil, refuse("--log-format %q: want text or json", o.logFormat)
	}
	if err := o.logLevel.UnmarshalText([]byte(sv.logLevel)); err != nil {
		return nil, refuse("--log-level %q: want debug, info, warn or error", sv.logLevel)
	}
	return o, nil
}

func portValue(flagName, flagValue string, flagSet bool, env string, def int, lookupEnv func(string) (string, bool)) (int, error) {
	what, raw := flagName, flagValue
	if !flagSet {
		v, ok := lookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return def, nil
		}
		what, raw = env, v
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 || n > 65535 {
		return 0, refuse("%s=%q is not a port (want 1-65535)", what, raw)
	}
	return n, nil
}

func durationValue(flagName, raw string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(raw))
	if err != nil || d <= 0 {
		return 0, refuse("%s=%q is not a positive duration (e.g. 30s, 10m)", flagName, raw)
	}
	return d, nil
}
