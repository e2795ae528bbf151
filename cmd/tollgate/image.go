package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/conformance"
	"github.com/tollgate-dev/tollgate/suites/containers"
	"github.com/tollgate-dev/tollgate/suites/report"
)

// runImage judges a proxy image in the container topology: the harness's mock
// in one container, the image sharing its network namespace (real ports
// 11435/11434), and a probe container on a user network.
func runImage(o runOpts, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := containers.CheckEngine(ctx); err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return report.ExitHarness
	}
	caps, err := parseCaps(o.caps)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return report.ExitHarness
	}
	s, err := containers.NewSession(ctx, containers.SessionOptions{Driver: o.driver, HandleSignals: true})
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return report.ExitHarness
	}
	defer s.Close(context.Background())
	// The harness's own images (mock, probe, and the reference proxy) are
	// built locally when missing or stale; the image under test must exist.
	if !isHarnessImage(o.image) {
		if err := s.RequireImages(ctx, o.image); err != nil {
			fmt.Fprintf(stderr, "tollgate run: %v\n", err)
			return report.ExitHarness
		}
	}
	if _, err := containers.EnsureImages(ctx, containers.BuildOptions{Log: stdout}); err != nil {
		// Outside a tollgate checkout nothing can be built: images built
		// earlier (make images) are fine, none at all is a harness error.
		d := containers.DefaultImages()
		if rerr := s.RequireImages(ctx, d.Mock, d.Probe); rerr != nil {
			fmt.Fprintf(stderr, "tollgate run: %v; %v\n", err, rerr)
			return report.ExitHarness
		}
		fmt.Fprintf(stdout, "using the harness images already present (%v)\n", err)
	}
	start := time.Now()
	token := conformance.NewToken()
	tokenFile := false
	for _, c := range caps {
		tokenFile = tokenFile || c == catalog.TokenFile
	}
	fmt.Fprintf(stdout, "tollgate %s: judging image %s in the container topology (driver %s)\n\n", toolVersion(), o.image, o.driver)
	verdicts := s.RunContainerChecks(ctx, containers.ContainerTarget{Image: o.image, Token: token, TokenFile: tokenFile})
	if _, err := s.Close(context.Background()); err != nil {
		fmt.Fprintf(stderr, "tollgate run: cleanup: %v (run 'tollgate cleanup')\n", err)
	}
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
		Target: "image: " + o.image, Kind: "image", Profile: o.profile, Strict: o.strict,
		Started: start, Duration: time.Since(start),
		Config: map[string]string{"image": o.image, "driver": o.driver, "capabilities": o.caps.String()},
	}
	if o.reportDir != "" {
		red := report.NewRedactor(token)
		for _, w := range []func() error{
			func() error { return report.WriteJSON(filepath.Join(o.reportDir, "results.json"), meta, results, red) },
			func() error {
				return report.WriteMarkdown(filepath.Join(o.reportDir, "summary.md"), meta, results, red)
			},
			func() error { return report.WriteHTML(filepath.Join(o.reportDir, "report.html"), meta, results, red) },
			func() error { return report.WriteBadge(filepath.Join(o.reportDir, "badge.svg"), meta, results, red) },
		} {
			if err := w(); err != nil {
				fmt.Fprintf(stderr, "tollgate run: %v\n", err)
			}
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
