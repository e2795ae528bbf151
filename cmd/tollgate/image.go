package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/conformance"
	"github.com/tollgate-dev/tollgate/suites/containers"
	"github.com/tollgate-dev/tollgate/suites/report"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// errReported marks a failure already explained on stderr.
var errReported = errors.New("reported")

// containerRun opens a Docker session with the harness's images ready;
// extra names images that must already exist locally.
func containerRun(ctx context.Context, o runOpts, stdout, stderr io.Writer, extra ...string) (*containers.Session, error) {
	fail := func(err error) (*containers.Session, error) {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return nil, errReported
	}
	if err := containers.CheckEngine(ctx); err != nil {
		return fail(err)
	}
	s, err := containers.NewSession(ctx, containers.SessionOptions{Driver: o.driver, HandleSignals: true})
	if err != nil {
		return fail(err)
	}
	if len(extra) > 0 {
		if err := s.RequireImages(ctx, extra...); err != nil {
			s.Close(context.Background())
			return fail(err)
		}
	}
	// The harness's own images (mock, probe, reference proxy) are built
	// locally when missing or stale; nothing is ever pulled.
	if _, err := containers.EnsureImages(ctx, containers.BuildOptions{Log: stdout}); err != nil {
		// Outside a tollgate checkout nothing can be built: images built
		// earlier (make images) are fine, none at all is a harness error.
		d := containers.DefaultImages()
		if rerr := s.RequireImages(ctx, d.Mock, d.Probe); rerr != nil {
			s.Close(context.Background())
			return fail(fmt.Errorf("%v; %v", err, rerr))
		}
		fmt.Fprintf(stdout, "using the harness images already present (%v)\n", err)
	}
	return s, nil
}

// imageSession is containerRun with the image under test required too.
func imageSession(ctx context.Context, o runOpts, stdout, stderr io.Writer) (*containers.Session, error) {
	var extra []string
	if !isHarnessImage(o.image) {
		extra = append(extra, o.image)
	}
	return containerRun(ctx, o, stdout, stderr, extra...)
}

// runImage judges a proxy image in the container topology: the harness's mock
// in one container, the image sharing its network namespace (real ports
// 11435/11434), and a probe container on a user network.
func runImage(o runOpts, ft *fileTarget, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	caps, err := parseCaps(o.caps)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return report.ExitHarness
	}
	s, err := imageSession(ctx, o, stdout, stderr)
	if err != nil {
		return report.ExitHarness
	}
	defer s.Close(context.Background())
	start := time.Now()
	token := conformance.NewToken()
	tokenFile := false
	for _, c := range caps {
		tokenFile = tokenFile || c == catalog.TokenFile
	}
	fmt.Fprintf(stdout, "tollgate %s: judging image %s in the container topology (driver %s)\n\n", toolVersion(), o.image, o.driver)
	ct := containers.ContainerTarget{Image: o.image, Token: token, TokenFile: tokenFile}
	if ft != nil && ft.target {
		ct.Env = ft.d.Env // the descriptor's env, as for exec targets
	}
	verdicts := s.RunContainerChecks(ctx, ct)
	if _, err := s.Close(context.Background()); err != nil {
		fmt.Fprintf(stderr, "tollgate run: cleanup: %v (run 'tollgate cleanup')\n", err)
	}
	return finishContainerRun(o, "image: "+o.image, "image", verdicts, token, start, stdout, stderr)
}

// runImageHostNet judges a proxy image on every requirement a host process
// is judged on (all but NET), one container on the host's network per start,
// in one process: the containers belong to this run's session.
func runImageHostNet(o runOpts, ft *fileTarget, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := o.config()
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return report.ExitHarness
	}
	caps, _ := parseCaps(o.caps) // validated by config
	s, err := imageSession(ctx, o, stdout, stderr)
	if err != nil {
		return report.ExitHarness
	}
	defer s.Close(context.Background())
	cfg.Target = &containers.HostNetImage{Session: s, Image: o.image, Declared: caps}
	cfg.Redacted["image"], cfg.Redacted["driver"] = o.image, o.driver
	cfg.Out, cfg.Printer = stdout, o.printer(stdout)
	human := o.humanOut(stdout)
	finishDescriptor(&cfg, ft, human)
	announce(human, cfg, ", driver "+o.driver)
	out := conformance.Run(&ginkgoT{}, cfg)
	if _, err := s.Close(context.Background()); err != nil {
		fmt.Fprintf(stderr, "tollgate run: cleanup: %v (run 'tollgate cleanup')\n", err)
	}
	if o.reportDir != "" {
		fmt.Fprintf(human, "reports: %s\n", o.reportDir)
	}
	return out.Exit
}

// runHost judges a builtin or exec target in the host topology, as NemoClaw
// runs it: mock on 127.0.0.1, the proxy on 0.0.0.0 as a host process, and a
// probe container reaching the host through host-gateway.
func runHost(o runOpts, cfg conformance.Config, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := containerRun(ctx, o, stdout, stderr)
	if err != nil {
		return report.ExitHarness
	}
	defer s.Close(context.Background())
	mock, err := mockollama.Start("127.0.0.1:0", mockollama.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: start the mock: %v\n", err)
		return report.ExitHarness
	}
	defer mock.Close()
	_, mp, _ := net.SplitHostPort(mock.Addr)
	token, port := conformance.NewToken(), conformance.FreePort()
	inst, err := cfg.Target.Start(ctx, target.Launch{Port: port, Env: map[string]string{
		"OLLAMA_PROXY_TOKEN": token, "OLLAMA_PROXY_PORT": strconv.Itoa(port), "OLLAMA_BACKEND_PORT": mp,
	}})
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return report.ExitHarness
	}
	defer inst.Kill()
	deadline := time.Now().Add(15 * time.Second)
	for !conformance.Listening(inst.Addr()) {
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "tollgate run: the proxy did not listen on port %d within 15s\n", port)
			return report.ExitHarness
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	fmt.Fprintf(stdout, "tollgate %s: judging %s in the host topology (driver %s)\n\n", toolVersion(), cfg.Target, o.driver)
	bp, _ := strconv.Atoi(mp)
	verdicts := s.HostChecks(ctx, containers.HostTarget{ProxyPort: port, BackendPort: bp, Token: token})
	return finishContainerRun(o, cfg.Target.String(), cfg.Target.Kind(), verdicts, token, start, stdout, stderr)
}

// finishContainerRun prints and reports container verdicts like any run.
func finishContainerRun(o runOpts, tgt, kind string, verdicts []containers.Verdict, token string, start time.Time, stdout, stderr io.Writer) int {
	results := make([]report.Result, 0, len(verdicts))
	p := o.printer(stdout)
	for _, v := range verdicts {
		r := resultOf(v)
		p.Result(r)
		results = append(results, r)
	}
	p.Done(results, "")
	meta := report.Meta{
		Tool: "tollgate", ToolVersion: toolVersion(), CatalogVersion: catalog.Version,
		Target: tgt, Kind: kind, Profile: o.profile, Strict: o.strict,
		Started: start, Duration: time.Since(start),
		Config: map[string]string{"target": tgt, "driver": o.driver, "capabilities": o.caps.String()},
	}
	if o.reportDir != "" {
		if err := report.WriteAll(o.reportDir, meta, results, report.NewRedactor(token)); err != nil {
			fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		}
	}
	return report.Summarize(results).ExitCode()
}

func isHarnessImage(ref string) bool {
	d := containers.DefaultImages()
	return ref == d.Proxy || ref == d.Mock || ref == d.Probe
}

// resultOf turns a container check into a requirement verdict.
func resultOf(v containers.Verdict) report.Result {
	req, _ := catalog.Lookup(v.ID)
	r := report.Result{ID: v.ID, Level: string(req.Level), Group: req.Group, Text: req.Text, Duration: v.Duration}
	switch {
	case v.Skipped != "":
		r.Verdict, r.Message = report.Skip, v.Skipped
	case v.HarnessError != "":
		r.Verdict, r.Message = report.Error, v.HarnessError
	case v.Pass:
		r.Verdict = report.Pass
	default:
		r.Verdict = report.Fail
		r.Message = fmt.Sprintf("Expected: %s\nActual:   %s", v.Expected, v.Actual)
	}
	return r
}

func cleanupCmd(args []string, stdout, stderr io.Writer) int {
	run := "all"
	if len(args) == 1 {
		run = args[0]
	} else if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: tollgate cleanup [RUN-ID]   (default: every container, network and volume labelled tollgate.run)")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	removed, err := containers.Cleanup(ctx, run)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate cleanup: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "removed %d containers, %d networks, %d volumes\n", removed.Containers, removed.Networks, removed.Volumes)
	return 0
}
