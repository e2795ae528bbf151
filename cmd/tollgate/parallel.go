package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/conformance"
	"github.com/tollgate-dev/tollgate/suites/report"
)

// shardEnv hands a worker its share of requirement IDs. Ginkgo runs one
// suite per process, so parallel runs are separate tollgate processes, each
// with its own mock and its own proxy instance on its own ports.
const shardEnv = "TOLLGATE_SHARD"

// weight estimates a requirement's run time, so shards finish together:
// streams and restarts wait on purpose; most other specs take milliseconds.
func weight(r catalog.Requirement) float64 {
	switch r.ID {
	case "STRM-009":
		return 4.3
	case "STRM-007", "STRM-008":
		return 2.3
	}
	switch r.Group {
	case "streaming":
		return 0.5
	case "lifecycle", "restart":
		return 0.7
	case "hostile":
		return 0.3
	}
	return 0.02
}

// shards splits the catalogue into n sets of similar expected duration
// (longest first, each to the lightest shard).
func shards(n int) [][]string {
	reqs := catalog.All()
	sort.SliceStable(reqs, func(i, j int) bool { return weight(reqs[i]) > weight(reqs[j]) })
	out := make([][]string, n)
	load := make([]float64, n)
	for _, r := range reqs {
		if r.NeedsCap(catalog.Container) {
			continue // judged by --image and make e2e, not by these workers
		}
		k := 0
		for i := range load {
			if load[i] < load[k] {
				k = i
			}
		}
		out[k] = append(out[k], r.ID)
		load[k] += weight(r)
	}
	return out
}

// runParallel re-runs this command as n workers and merges what they found.
func runParallel(args []string, n int, cfg conformance.Config, human, stdout, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: cannot re-run myself for --parallel: %v (use --parallel 1)\n", err)
		return report.ExitHarness
	}
	tmp, err := os.MkdirTemp("", "tollgate-workers-")
	if err != nil {
		fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		return report.ExitHarness
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	var mu sync.Mutex // one worker line at a time on stdout
	var wg sync.WaitGroup
	var dirs []string
	for i, shard := range shards(n) {
		if len(shard) == 0 {
			continue
		}
		dir := filepath.Join(tmp, strconv.Itoa(i))
		dirs = append(dirs, dir)
		wargs := append(append([]string{"run"}, args...), "--parallel", "1", "--report-dir", dir, "--seed", strconv.FormatInt(cfg.Seed, 10))
		cmd := exec.Command(self, wargs...)
		cmd.Env = append(os.Environ(), shardEnv+"="+strings.Join(shard, ","))
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fmt.Fprintf(stderr, "tollgate run: %v\n", err)
			return report.ExitHarness
		}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(stderr, "tollgate run: start a worker: %v\n", err)
			return report.ExitHarness
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				mu.Lock()
				fmt.Fprintln(stdout, sc.Text())
				mu.Unlock()
			}
			_ = cmd.Wait()
		}()
	}
	wg.Wait()
	return mergeWorkers(dirs, cfg, start, human, stderr)
}

type workerResults struct {
	Meta    report.Meta     `json:"meta"`
	Results []report.Result `json:"results"`
}

// mergeWorkers sums the workers' results into one run's reports.
func mergeWorkers(dirs []string, cfg conformance.Config, start time.Time, human, stderr io.Writer) int {
	var meta report.Meta
	var results []report.Result
	var suiteErrors []string
	junit := reporters.JUnitTestSuites{}
	for i, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "results.json"))
		if err != nil {
			suiteErrors = append(suiteErrors, fmt.Sprintf("worker %d wrote no results", i))
			continue
		}
		var w workerResults
		if err := json.Unmarshal(b, &w); err != nil {
			suiteErrors = append(suiteErrors, fmt.Sprintf("worker %d: results.json: %v", i, err))
			continue
		}
		if i == 0 || meta.Tool == "" {
			meta = w.Meta
		}
		if w.Meta.SuiteError != "" {
			suiteErrors = append(suiteErrors, w.Meta.SuiteError)
		}
		results = append(results, w.Results...)
		mergeJUnit(&junit, filepath.Join(dir, "junit.xml"))
	}
	meta.Started, meta.Duration = start, time.Since(start)
	meta.SuiteError = strings.Join(dedupe(suiteErrors), "; ")
	cfg.Printer.Done(results, meta.SuiteError)
	exit := report.Summarize(results).ExitCode()
	if meta.SuiteError != "" {
		exit = report.ExitHarness
	}
	if cfg.ReportDir != "" {
		if err := report.WriteAll(cfg.ReportDir, meta, results, report.NewRedactor(cfg.Token)); err != nil {
			fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		}
		if err := writeJUnit(filepath.Join(cfg.ReportDir, "junit.xml"), junit); err != nil {
			fmt.Fprintf(stderr, "tollgate run: %v\n", err)
		}
		fmt.Fprintf(human, "reports: %s\n", cfg.ReportDir)
	}
	return exit
}

func mergeJUnit(into *reporters.JUnitTestSuites, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var s reporters.JUnitTestSuites
	if xml.Unmarshal(b, &s) != nil {
		return
	}
	into.Tests += s.Tests
	into.Disabled += s.Disabled
	into.Errors += s.Errors
	into.Failures += s.Failures
	into.Time += s.Time
	into.TestSuites = append(into.TestSuites, s.TestSuites...)
}

func writeJUnit(path string, s reporters.JUnitTestSuites) error {
	b, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
