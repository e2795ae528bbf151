package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/conformance"
	"github.com/tollgate-dev/tollgate/suites/report"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// listFlag collects repeatable, comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type runOpts struct {
	exec, url, token, backendListen, profile, reportDir string
	image, driver                                       string
	parallel                                            int
	quiet, json, containers, hostNetwork                bool
	caps, focus, skip                                   listFlag
	strict                                              bool
	seed                                                int64
	file                                                string // -f: target descriptor; flags override it
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	var o runOpts
	fs := flag.NewFlagSet("tollgate run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.exec, "exec", "", "judge this command, started with the launch contract (run by /bin/sh -c)")
	fs.StringVar(&o.url, "url", "", "judge a proxy already running at this URL against the harness's mock (needs --token and --backend-listen)")
	fs.StringVar(&o.token, "token", "", "url targets: the token the running proxy requires")
	fs.StringVar(&o.backendListen, "backend-listen", "", "url targets: host:port the running proxy forwards to; the harness's mock listens there")
	fs.Var(&o.caps, "capabilities", "capabilities the target declares (token-file)")
	fs.StringVar(&o.profile, "profile", string(catalog.HealthExempt), "health-exempt or strict-auth")
	fs.BoolVar(&o.strict, "strict", false, "SHOULD requirements fail the run too")
	fs.Var(&o.focus, "focus", "run only these requirement IDs, groups or labels (repeatable, comma-separated)")
	fs.Var(&o.skip, "skip", "skip these requirement IDs, groups or labels")
	fs.StringVar(&o.reportDir, "report-dir", "", "write junit.xml, results.json, summary.md, report.html and badge.svg here")
	fs.Int64Var(&o.seed, "seed", 0, "spec order and mock text seed (default: time-based, recorded in results.json)")
	fs.StringVar(&o.image, "image", "", "judge a proxy container image in the container topology (needs Docker; runs the NET requirements)")
	fs.BoolVar(&o.hostNetwork, "host-network", false, "with --image: judge the image on the request-level requirements instead, each start a container on the host's network against the harness's mock (Linux engines)")
	fs.StringVar(&o.driver, "driver", "testcontainers", "image and --containers runs: the Docker driver, testcontainers or dockertest")
	fs.BoolVar(&o.containers, "containers", false, "builtin and exec targets: judge the host topology from a container instead (NET-001, NET-002; needs Docker)")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the requirements not met and the summary")
	fs.BoolVar(&o.json, "json", false, "stream one JSON event per line (a result per requirement, then a summary) instead of text")
	fs.IntVar(&o.parallel, "parallel", 2, "builtin and exec targets: judge in N worker processes, each with its own mock and proxy (1: one process)")
	fs.StringVar(&o.file, "f", "", "read the target descriptor (tollgate.yaml) from `FILE`; flags given here override it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tollgate run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ft, err := applyDescriptor(o.file, &o, fs)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return 2
	}
	if o.image != "" {
		if o.exec != "" || o.url != "" {
			fmt.Fprintln(stderr, "tollgate run: --image, --exec and --url are exclusive")
			return 2
		}
		if o.hostNetwork {
			return runImageHostNet(o, ft, stdout, stderr)
		}
		return runImage(o, ft, stdout, stderr)
	}
	if o.hostNetwork {
		fmt.Fprintln(stderr, "tollgate run: --host-network goes with --image")
		return 2
	}
	cfg, err := o.config()
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return 2
	}
	cfg.Out = stdout
	cfg.Printer = o.printer(stdout)
	if shard := os.Getenv(shardEnv); shard != "" {
		cfg.Shard, cfg.Worker = strings.Split(shard, ","), true
		finishDescriptor(&cfg, ft, io.Discard)
		return conformance.Run(&ginkgoT{}, cfg).Exit
	}
	human := o.humanOut(stdout)
	finishDescriptor(&cfg, ft, human)
	announce(human, cfg, "")
	if o.parallel < 1 {
		fmt.Fprintln(stderr, "tollgate run: --parallel must be at least 1")
		return 2
	}
	if o.containers {
		if k := cfg.Target.Kind(); k != "builtin" && k != "exec" {
			fmt.Fprintln(stderr, "tollgate run: --containers judges builtin and exec targets (use --image for images)")
			return 2
		}
		return runHost(o, cfg, stdout, stderr)
	}
	if k := cfg.Target.Kind(); o.parallel > 1 && (k == "builtin" || k == "exec") {
		return runParallel(args, o.parallel, cfg, human, stdout, stderr)
	}
	out := conformance.Run(&ginkgoT{}, cfg)
	if o.reportDir != "" {
		fmt.Fprintf(human, "reports: %s\n", o.reportDir)
	}
	return out.Exit
}

// humanOut is where text for people goes: nowhere under --json, so the
// event stream stays pure JSON.
func (o runOpts) humanOut(stdout io.Writer) io.Writer {
	if o.json {
		return io.Discard
	}
	return stdout
}

// announce prints a suite run's first line; extra adds to its parentheses.
func announce(w io.Writer, cfg conformance.Config, extra string) {
	fmt.Fprintf(w, "tollgate %s: judging %s (profile %s, catalogue %s, seed %d%s)\n\n",
		cfg.ToolVersion, cfg.Target, cfg.Profile, catalog.Version, cfg.Seed, extra)
}

// printer picks how results are shown: text lines (all, or --quiet), or
// --json events.
func (o runOpts) printer(w io.Writer) report.Printer {
	if o.json {
		return &report.JSONEvents{W: w}
	}
	return &report.Human{W: w, Quiet: o.quiet}
}

// config validates the flags into a run configuration.
func (o runOpts) config() (conformance.Config, error) {
	cfg := conformance.Config{Strict: o.strict, Focus: o.focus, Skip: o.skip, ReportDir: o.reportDir, ToolVersion: toolVersion()}
	switch catalog.Profile(o.profile) {
	case catalog.HealthExempt, catalog.StrictAuth:
		cfg.Profile = catalog.Profile(o.profile)
	default:
		return cfg, fmt.Errorf("unknown --profile %q (health-exempt or strict-auth)", o.profile)
	}
	caps, err := parseCaps(o.caps)
	if err != nil {
		return cfg, err
	}
	for _, id := range append(append([]string(nil), o.focus...), o.skip...) {
		if strings.ContainsAny(id, "&|!() ") {
			return cfg, fmt.Errorf("--focus/--skip take IDs, groups or labels, not expressions: %q", id)
		}
	}
	cfg.Seed = o.seed
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano() % 1_000_000
	}
	cfg.Redacted = map[string]string{"profile": o.profile, "strict": fmt.Sprint(o.strict), "capabilities": o.caps.String()}
	switch {
	case o.exec != "" && o.url != "":
		return cfg, fmt.Errorf("--exec and --url are exclusive")
	case o.exec != "":
		cfg.Target = &target.Exec{Command: o.exec, Declared: caps}
		cfg.Redacted["exec"] = o.exec
	case o.url != "":
		u, err := url.Parse(o.url)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return cfg, fmt.Errorf("--url must be http://host:port, got %q", o.url)
		}
		if o.token == "" || o.backendListen == "" {
			return cfg, fmt.Errorf("--url needs --token and --backend-listen (where the proxy forwards, so the harness's mock can listen there)")
		}
		cfg.Target, cfg.Token, cfg.BackendListen = &target.URL{Base: u, Declared: caps}, o.token, o.backendListen
		cfg.Redacted["url"], cfg.Redacted["backend_listen"] = u.Redacted(), o.backendListen
	default:
		b := &target.Builtin{}
		if cfg.Profile == catalog.StrictAuth {
			b.Args = []string{"--no-health-exemption"}
		}
		cfg.Target = b
	}
	if o.token != "" && o.url == "" {
		return cfg, fmt.Errorf("--token is only for --url targets; the harness makes its own token")
	}
	return cfg, nil
}

func parseCaps(names []string) ([]catalog.Capability, error) {
	var caps []catalog.Capability
	for _, n := range names {
		switch catalog.Capability(n) {
		case catalog.TokenFile:
			caps = append(caps, catalog.TokenFile)
		case catalog.Supervisor:
			caps = append(caps, catalog.Supervisor)
		default:
			return nil, fmt.Errorf("unknown capability %q (known: token-file, supervisor)", n)
		}
	}
	return caps, nil
}

// ginkgoT receives Ginkgo's suite-level failure; the exit code comes from
// the verdicts instead.
type ginkgoT struct{ failed bool }

func (t *ginkgoT) Fail() { t.failed = true }
