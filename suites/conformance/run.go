package conformance

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/report"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// Outcome is what a run produced.
type Outcome struct {
	Meta    report.Meta
	Results []report.Result
	Exit    int
}

// run is the state shared between Run and the suite's report nodes.
var run struct {
	sync.Mutex
	cfg        Config
	results    []report.Result
	suiteError string
	redactor   *report.Redactor
}

// harnessPrefix marks failures that are the harness's, not the proxy's.
const harnessPrefix = "[harness] "

// HarnessFail aborts a spec because the harness, not the proxy, failed.
func HarnessFail(format string, args ...any) {
	Fail(harnessPrefix + fmt.Sprintf(format, args...))
}

// Secret registers a value that must never appear in any artifact.
func Secret(s string) { run.redactor.Add(s) }

// Run executes the suite once (Ginkgo allows one run per process) and writes
// the reports. t may be a *testing.T or any GinkgoTestingT.
func Run(t GinkgoTestingT, cfg Config) Outcome {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	run.cfg, run.redactor = cfg, report.NewRedactor(cfg.Token)
	RegisterFailHandler(Fail)
	suiteCfg, repCfg := GinkgoConfiguration()
	suiteCfg.RandomSeed = cfg.Seed
	suiteCfg.LabelFilter = labelFilter(cfg.Focus, cfg.Skip, cfg.Shard)
	suiteCfg.Timeout = 30 * time.Minute
	repCfg.Succinct, repCfg.Verbose, repCfg.VeryVerbose = true, false, false
	// Tollgate prints its own line per requirement; Ginkgo's reporter is muted.
	formatter.ColorableStdOut = io.Discard
	start := time.Now()
	RunSpecs(t, "Tollgate conformance", suiteCfg, repCfg)
	meta := metaFor(cfg, start)
	if !cfg.Worker {
		cfg.printer().Done(run.results, meta.SuiteError)
	}
	exit := report.Summarize(run.results).ExitCode()
	if meta.SuiteError != "" {
		exit = report.ExitHarness
	}
	return Outcome{Meta: meta, Results: run.results, Exit: exit}
}

func metaFor(cfg Config, start time.Time) report.Meta {
	return report.Meta{
		Tool: "tollgate", ToolVersion: cfg.ToolVersion, CatalogVersion: catalog.Version,
		Target: cfg.Target.String(), Kind: cfg.Target.Kind(), Profile: string(cfg.profile()),
		Strict: cfg.Strict, Seed: cfg.Seed, Started: start, Duration: time.Since(start),
		Config: cfg.Redacted, SuiteError: run.redactor.String(run.suiteError),
	}
}

// labelFilter turns --focus/--skip lists and a worker's shard into a Ginkgo
// label expression.
func labelFilter(focus, skip, shard []string) string {
	var parts []string
	if len(focus) > 0 {
		parts = append(parts, "("+strings.Join(focus, " || ")+")")
	}
	if len(shard) > 0 {
		parts = append(parts, "("+strings.Join(shard, " || ")+")")
	}
	for _, s := range skip {
		parts = append(parts, "!"+s)
	}
	return strings.Join(parts, " && ")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	H = newHarness(run.cfg)
	if err := H.setUp(ctx); err != nil {
		run.suiteError = "target did not start: " + err.Error() + outputTail(err)
		Fail(harnessPrefix + run.suiteError)
	}
	Secret(H.Token)
}, NodeTimeout(time.Minute))

var _ = AfterSuite(func() {
	if H != nil {
		H.tearDown()
	}
})

var _ = ReportAfterEach(func(sr SpecReport) {
	r, ok := requirementOf(sr.Labels())
	if !ok || sr.State == types.SpecStateSkipped && sr.Failure.Message == "" {
		return // filtered out by --focus/--skip, or never run after a set-up error
	}
	res := verdictOf(r, sr, run.cfg.Strict)
	res.Message = run.redactor.String(res.Message)
	if res.Verdict == report.Fail || res.Verdict == report.Warn || res.Verdict == report.Error {
		for _, e := range lastExchanges() {
			res.Wire = append(res.Wire, report.Exchange{
				Request: run.redactor.String(e.Request), Response: run.redactor.String(e.Response), BodyHead: run.redactor.String(e.BodyHead),
			})
		}
	}
	run.Lock()
	run.results = append(run.results, res)
	run.Unlock()
	run.cfg.printer().Result(res)
})

var _ = ReportAfterSuite("tollgate reports", func(rep Report) {
	dir := run.cfg.ReportDir
	if dir == "" {
		return
	}
	meta := metaFor(run.cfg, rep.StartTime)
	if err := report.WriteAll(dir, meta, run.results, run.redactor); err != nil {
		fmt.Fprintf(run.cfg.Out, "tollgate: %v\n", err)
	}
	junit := filepath.Join(dir, "junit.xml")
	if err := reporters.GenerateJUnitReportWithConfig(rep, junit, reporters.JunitReportConfig{OmitLeafNodeType: true}); err == nil {
		_ = report.RedactFile(junit, run.redactor)
	}
})

// verdictOf maps a Ginkgo spec state onto the conformance verdicts.
func verdictOf(r catalog.Requirement, sr SpecReport, strict bool) report.Result {
	res := report.Result{ID: r.ID, Level: string(r.Level), Group: r.Group, Text: r.Text, Duration: sr.RunTime}
	switch sr.State {
	case types.SpecStatePassed:
		res.Verdict = report.Pass
	case types.SpecStateSkipped, types.SpecStatePending:
		res.Verdict, res.Message = report.Skip, sr.Failure.Message
		if res.Message == "" {
			res.Message = "not run: the harness could not be set up"
		}
	default:
		res.Message = sr.Failure.Message
		res.Location = sr.Failure.Location.String()
		switch {
		case strings.HasPrefix(sr.Failure.Message, harnessPrefix):
			res.Verdict = report.Error
		case sr.State == types.SpecStateTimedout:
			res.Verdict, res.Message = report.Fail, "timed out: "+res.Message
		case r.Level == catalog.Should && !strict:
			res.Verdict = report.Warn
		default:
			res.Verdict = report.Fail
		}
	}
	return res
}

// outputTail adds the last lines a proxy printed before it exited, which
// usually say why.
func outputTail(err error) string {
	var ee *target.ExitError
	if !errors.As(err, &ee) || strings.TrimSpace(ee.Output) == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(ee.Output), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return "; it printed: " + strings.Join(lines, " | ")
}
