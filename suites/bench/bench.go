// Package bench measures an Ollama auth proxy against the direct path to the
// mock, in the same run: throughput, added latency, streaming delays,
// rejection cost and the memory held by idle streams. Every figure is a
// ratio to, or a difference from, a reference measured in the same round.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tollgate-dev/tollgate/mockollama"
)

// Config is one bench run. Zero fields take the defaults of Defaults.
type Config struct {
	Exec    string // proxy command started with the launch contract; "" = builtin
	URL     string // a proxy already running (needs Token); exclusive with Exec
	Token   string // for URL
	Backend string // for URL: where that proxy forwards (the mock listens there)
	VsExec  string // a second proxy, measured in the same rounds

	Rounds       int
	Duration     time.Duration // per measurement, per path
	Conns        []int         // throughput connection counts
	Rate         int           // open-loop latency rate, requests/s
	StreamConc   int
	StreamChunks int
	StreamGap    time.Duration
	IdleStreams  int // 0 = default; negative = skip
	RejectConns  int
	ProxyBin     string // builtin idle streams: this binary instead of building ./cmd/ollama-auth-proxy

	ReportDir   string
	ToolVersion string
	Out         io.Writer // progress; nil = discard
}

// Defaults is what a zero Config means.
var Defaults = Config{
	Rounds: 5, Duration: 1500 * time.Millisecond, Conns: []int{1, 16, 64}, Rate: 500,
	StreamConc: 8, StreamChunks: 16, StreamGap: 2 * time.Millisecond,
	IdleStreams: 1000, RejectConns: 64, ReportDir: "reports/bench",
}

func (c Config) withDefaults() Config {
	d := Defaults
	if c.Rounds <= 0 {
		c.Rounds = d.Rounds
	}
	if c.Duration <= 0 {
		c.Duration = d.Duration
	}
	if len(c.Conns) == 0 {
		c.Conns = d.Conns
	}
	if c.Rate <= 0 {
		c.Rate = d.Rate
	}
	if c.StreamConc <= 0 {
		c.StreamConc = d.StreamConc
	}
	if c.StreamChunks <= 0 {
		c.StreamChunks = d.StreamChunks
	}
	if c.StreamGap <= 0 {
		c.StreamGap = d.StreamGap
	}
	if c.IdleStreams == 0 {
		c.IdleStreams = d.IdleStreams
	}
	if c.RejectConns <= 0 {
		c.RejectConns = d.RejectConns
	}
	if c.ReportDir == "" {
		c.ReportDir = d.ReportDir
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return c
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	switch {
	case c.Exec != "" && c.URL != "":
		return errors.New("--exec and --url are exclusive")
	case c.URL != "" && c.Token == "":
		return errors.New("--url needs --token")
	case c.URL == "" && c.Token != "":
		return errors.New("--token is only for --url targets; the bench makes its own token")
	case c.Rounds > 100 || c.Duration > time.Minute:
		return errors.New("at most 100 rounds of at most 1m each")
	}
	for _, n := range c.Conns {
		if n < 1 || n > 1024 {
			return fmt.Errorf("connection count %d out of range 1-1024", n)
		}
	}
	if c.IdleStreams > 5000 {
		return errors.New("at most 5000 idle streams")
	}
	return nil
}

// subject is one proxy under test during the run.
type subject struct {
	rep    *TargetReport
	run    *running
	p      path
	output *bytes.Buffer
	cmd    string // for exec-able subjects: how to start a fresh one for idle streams
	// per-metric rounds, by metric index
	rounds [][]Round
}

// Run measures, prints the table to cfg.Out, writes bench.json and returns
// the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	rep := &Report{
		Tool: cfg.ToolVersion, Date: began.UTC().Format(time.RFC3339), Machine: machine(),
		LoadLib: "github.com/tsenart/vegeta/v12 v12.13.0 (lib): closed-loop throughput and open-loop latency; streams and idle streams: net/http client",
		Settings: Settings{
			Rounds: cfg.Rounds, Duration: cfg.Duration.String(), Conns: cfg.Conns, Rate: cfg.Rate,
			StreamChunks: cfg.StreamChunks, StreamGap: cfg.StreamGap.String(), StreamConc: cfg.StreamConc,
			IdleStreams: max(cfg.IdleStreams, 0), RejectConns: cfg.RejectConns,
		},
	}
	logf := func(format string, a ...any) { fmt.Fprintf(cfg.Out, format+"\n", a...) }

	mockAddr := "127.0.0.1:0"
	if cfg.URL != "" {
		mockAddr = cfg.Backend
		if mockAddr == "" {
			mockAddr = "127.0.0.1:11434"
		}
	}
	mock, err := mockollama.Start(mockAddr, mockollama.Options{Interval: 0})
	if err != nil {
		return nil, fmt.Errorf("start mock on %s: %w", mockAddr, err)
	}
	defer mock.Close()
	direct := path{base: mock.URL}

	token := cfg.Token
	if token == "" {
		token = newToken()
	}
	direct.token = token

	var subjects []*subject
	defer func() {
		for _, s := range subjects {
			if s.run != nil {
				_ = s.run.stop()
			}
		}
	}()
	add := func(name, kind, desc, cmd string, start func(*bytes.Buffer) (*running, error)) error {
		s := &subject{rep: &TargetReport{Name: name, Kind: kind, Desc: desc}, output: &bytes.Buffer{}, cmd: cmd}
		r, err := start(s.output)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.run, s.p = r, path{base: r.base, token: token}
		subjects = append(subjects, s)
		return nil
	}
	switch {
	case cfg.URL != "":
		err = add("url", "url", cfg.URL, "", func(*bytes.Buffer) (*running, error) {
			return &running{base: strings.TrimRight(cfg.URL, "/"), stop: func() error { return nil }}, nil
		})
	case cfg.Exec != "":
		err = add("exec", "exec", cfg.Exec, cfg.Exec, func(b *bytes.Buffer) (*running, error) { return startExec(cfg.Exec, mock.Addr, token, b) })
	default:
		err = add("builtin", "builtin", "reference proxy in-process: proxy.NewHandler + proxy.Serve on 127.0.0.1", "", func(*bytes.Buffer) (*running, error) {
			return startBuiltin(mock.Addr, token)
		})
	}
	if err != nil {
		return nil, err
	}
	if cfg.VsExec != "" {
		if err := add("vs-exec", "exec", cfg.VsExec, cfg.VsExec, func(b *bytes.Buffer) (*running, error) { return startExec(cfg.VsExec, mock.Addr, token, b) }); err != nil {
			return nil, err
		}
	}
	// Sanity: every path answers an authenticated generate with 200.
	for _, p := range append([]path{direct}, pathsOf(subjects)...) {
		if got := throughput(ctx, p, 1, 50*time.Millisecond, true, 200); !(got > 0) {
			return nil, fmt.Errorf("%s does not answer POST /api/generate with 200", p.base)
		}
		mock.Record().Reset()
	}

	defs := metricDefs(cfg)
	for _, s := range subjects {
		s.rounds = make([][]Round, len(defs))
	}
	logf("bench: %d rounds x %s per measurement; targets: %s", cfg.Rounds, cfg.Duration, names(subjects))
	for round := range cfg.Rounds {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Alternate which path goes first, so drift does not favour one.
		order := append([]path{direct}, pathsOf(subjects)...)
		if round%2 == 1 {
			order = append(pathsOf(subjects), direct)
		}
		results := measureRound(ctx, cfg, order, mock)
		for _, s := range subjects {
			for i, d := range defs {
				s.rounds[i] = append(s.rounds[i], d.round(results, direct, s.p))
			}
		}
		logf("bench: round %d/%d done (%s)", round+1, cfg.Rounds, time.Since(began).Round(time.Second))
	}
	for _, s := range subjects {
		for i, d := range defs {
			s.rep.Metrics = append(s.rep.Metrics, d.summarize(s.rounds[i]))
		}
	}

	// Idle streams last: they hold a thousand connections.
	if cfg.IdleStreams > 0 {
		var bin string
		var binErr error
		for _, s := range subjects {
			if s.rep.Kind == "builtin" && cfg.ProxyBin == "" && bin == "" && binErr == nil {
				dir, err := os.MkdirTemp("", "tollgate-bench-")
				if err == nil {
					defer os.RemoveAll(dir)
					bin, binErr = buildReferenceBinary(ctx, dir)
				} else {
					binErr = err
				}
			}
			if cfg.ProxyBin != "" {
				bin = cfg.ProxyBin
			}
			s.rep.Idle = measureIdle(ctx, cfg, s, mock, token, bin, binErr)
			logf("bench: idle streams measured for %s", s.rep.Name)
		}
	}
	rep.Elapsed = time.Since(began).Round(time.Millisecond).String()
	for _, s := range subjects {
		rep.Targets = append(rep.Targets, *s.rep)
	}
	if _, err := rep.WriteJSON(cfg.ReportDir); err != nil {
		return rep, err
	}
	return rep, nil
}

func pathsOf(ss []*subject) []path {
	var out []path
	for _, s := range ss {
		out = append(out, s.p)
	}
	return out
}

func names(ss []*subject) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.rep.Name+" ("+s.p.base+")")
	}
	return strings.Join(n, ", ")
}

// roundResults holds one round's raw numbers, by path base URL.
type roundResults struct {
	tput      map[string]map[int]float64 // base -> conns -> req/s
	reject    map[string]float64         // base -> 401/s (POST with a body)
	rejectGet map[string]float64         // base -> 401/s, bodiless GET
	lat50     map[string]float64
	lat99     map[string]float64
	ttfc      map[string]map[string]float64 // base -> kind -> p50 ms
	gap99     map[string]map[string]float64 // base -> kind -> p99 ms
}

func measureRound(ctx context.Context, cfg Config, order []path, mock *mockollama.Server) roundResults {
	r := roundResults{
		tput: map[string]map[int]float64{}, reject: map[string]float64{}, rejectGet: map[string]float64{}, lat50: map[string]float64{}, lat99: map[string]float64{},
		ttfc: map[string]map[string]float64{}, gap99: map[string]map[string]float64{},
	}
	for _, p := range order {
		r.tput[p.base] = map[int]float64{}
		r.ttfc[p.base] = map[string]float64{}
		r.gap99[p.base] = map[string]float64{}
	}
	settle := func() { mock.Record().Reset(); runtime.GC() }
	for _, n := range cfg.Conns {
		for _, p := range order {
			r.tput[p.base][n] = throughput(ctx, p, n, cfg.Duration, true, 200)
			settle()
		}
	}
	for _, p := range order {
		if p.base == mock.URL {
			continue // the mock does not authenticate
		}
		r.reject[p.base] = throughput(ctx, p, cfg.RejectConns, cfg.Duration, false, 401)
		settle()
		get := vegeta.Target{Method: http.MethodGet, URL: p.base + "/api/ps"}
		r.rejectGet[p.base] = throughputOf(ctx, p, cfg.RejectConns, cfg.Duration, get, 401)
		settle()
	}
	for _, p := range order {
		r.lat50[p.base], r.lat99[p.base], _ = latency(ctx, p, cfg.Rate, cfg.Duration)
		settle()
	}
	for _, k := range []streamKind{ndjson, sse} {
		for _, p := range order {
			s := streaming(ctx, p, k, cfg.StreamConc, cfg.StreamChunks, cfg.StreamGap, cfg.Duration)
			r.ttfc[p.base][k.name] = Percentile(s.ttfc, 50)
			r.gap99[p.base][k.name] = Percentile(s.gaps, 99)
			settle()
		}
	}
	return r
}

// metricDef turns a round's raw numbers into one metric's round.
type metricDef struct {
	name, unit, ref, kind, goalText string
	goal                            float64 // NaN: no goal
	pick                            func(r roundResults, base string) float64
	refPick                         func(r roundResults, direct, proxied string) float64 // nil: pick(direct)
}

func metricDefs(cfg Config) []metricDef {
	nan := math.NaN()
	var defs []metricDef
	for _, n := range cfg.Conns {
		g, gt := nan, ""
		if n == 64 {
			g, gt = 0.5, ">= 0.50x"
		}
		defs = append(defs, metricDef{name: fmt.Sprintf("throughput %d conns", n), unit: "req/s", ref: "direct", kind: KindRatio, goal: g, goalText: gt,
			pick: func(r roundResults, b string) float64 { return r.tput[b][n] }})
	}
	defs = append(defs,
		metricDef{name: fmt.Sprintf("latency p50 @%d/s", cfg.Rate), unit: "ms", ref: "direct", kind: KindAdded, goal: 0.25, goalText: "<= +0.25ms",
			pick: func(r roundResults, b string) float64 { return r.lat50[b] }},
		metricDef{name: fmt.Sprintf("latency p99 @%d/s", cfg.Rate), unit: "ms", ref: "direct", kind: KindAdded, goal: 2, goalText: "<= +2ms",
			pick: func(r roundResults, b string) float64 { return r.lat99[b] }},
	)
	for _, k := range []string{"ndjson", "sse"} {
		defs = append(defs,
			metricDef{name: k + " first chunk p50", unit: "ms", ref: "direct", kind: KindAdded, goal: nan,
				pick: func(r roundResults, b string) float64 { return r.ttfc[b][k] }},
			metricDef{name: k + " inter-chunk p99", unit: "ms", ref: "direct", kind: KindAdded, goal: 1, goalText: "<= +1ms",
				pick: func(r roundResults, b string) float64 { return r.gap99[b][k] }},
		)
	}
	last := cfg.Conns[len(cfg.Conns)-1]
	defs = append(defs, metricDef{name: fmt.Sprintf("401 rejections %d conns", cfg.RejectConns), unit: "req/s", ref: "proxied", kind: KindRatio, goal: 2, goalText: ">= 2.00x",
		pick: func(r roundResults, b string) float64 { return r.reject[b] },
		refPick: func(r roundResults, _, proxied string) float64 {
			if v, ok := r.tput[proxied][cfg.RejectConns]; ok {
				return v
			}
			return r.tput[proxied][last]
		}})
	defs = append(defs, metricDef{name: fmt.Sprintf("401 rejections GET %d conns", cfg.RejectConns), unit: "req/s", ref: "proxied", kind: KindRatio, goal: nan,
		pick:    func(r roundResults, b string) float64 { return r.rejectGet[b] },
		refPick: defs[len(defs)-1].refPick})
	return defs
}

func (d metricDef) round(r roundResults, direct, proxied path) Round {
	ref := d.pick(r, direct.base)
	if d.refPick != nil {
		ref = d.refPick(r, direct.base, proxied.base)
	}
	got := d.pick(r, proxied.base)
	fig := Ratio(got, ref)
	if d.kind == KindAdded {
		fig = got - ref
	}
	return Round{Reference: Num(ref), Measured: Num(got), Figure: Num(fig)}
}

func (d metricDef) summarize(rounds []Round) Metric {
	var ref, got, fig []float64
	for _, r := range rounds {
		ref, got, fig = append(ref, float64(r.Reference)), append(got, float64(r.Measured)), append(fig, float64(r.Figure))
	}
	m := Metric{Name: d.name, Unit: d.unit, RefLabel: d.ref, Kind: d.kind, Reference: Num(Median(ref)), Measured: Num(Median(got)),
		Figure: Num(Median(fig)), Goal: d.goalText, Rounds: rounds, goal: d.goal}
	if !math.IsNaN(d.goal) && !math.IsNaN(float64(m.Figure)) {
		ok := float64(m.Figure) >= d.goal
		if d.kind == KindAdded {
			ok = float64(m.Figure) <= d.goal
		}
		m.Meets = &ok
	}
	return m
}

const idleGoalMiB = 64

// measureIdle runs the idle-stream measurement against a fresh process of
// the subject (builtin: the reference binary; exec: the same command), so
// its RSS is its own.
func measureIdle(ctx context.Context, cfg Config, s *subject, mock *mockollama.Server, token, bin string, binErr error) *Idle {
	id := &Idle{Streams: cfg.IdleStreams, Goal: fmt.Sprintf("<= +%d MiB", idleGoalMiB),
		RSSBaselineMiB: Num(math.NaN()), RSSPeakMiB: Num(math.NaN()), RSSAfterMiB: Num(math.NaN()), RSSAddedMiB: Num(math.NaN())}
	cmd := s.cmd
	switch s.rep.Kind {
	case "url":
		id.Skipped = "a url target's process is not observable"
		return id
	case "builtin":
		if binErr != nil {
			id.Skipped = binErr.Error()
			return id
		}
		cmd = bin
	}
	var out bytes.Buffer
	r, err := startExec(cmd, mock.Addr, token, &out)
	if err != nil {
		id.Skipped = err.Error()
		return id
	}
	defer r.stop()
	id.Process = cmd
	p := path{base: r.base, token: token}
	// Warm the process as the rounds did, briefly, then take the baseline.
	throughput(ctx, p, 16, 300*time.Millisecond, true, 200)
	mock.Record().Reset()
	time.Sleep(300 * time.Millisecond)
	base, err := groupStats(r.pid)
	if err != nil {
		id.Skipped = err.Error()
		return id
	}
	inFlight := func() int {
		n := 0
		for _, e := range mock.Record().All() {
			if e.Finished.IsZero() && !e.Cancelled {
				n++
			}
		}
		return n
	}
	var peak procStats
	idleStreams(ctx, p, cfg.IdleStreams, inFlight, 20*time.Second, func(opened int) {
		id.Opened = opened
		peak, _ = groupStats(r.pid)
	})
	// Wait for the proxy to let go: FDs back to baseline, RSS settling. A
	// little traffic lets a Go proxy's GC run, as any live proxy's would;
	// the runtime then returns freed pages to the OS in the background.
	time.Sleep(500 * time.Millisecond)
	throughput(ctx, p, 4, 300*time.Millisecond, true, 200)
	mock.Record().Reset()
	var after procStats
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, _ = groupStats(r.pid)
		rssBack := after.rssKiB-base.rssKiB <= (peak.rssKiB-base.rssKiB)/2
		if (after.fds <= base.fds && rssBack) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	mock.Record().Reset()
	mib := func(k int64) Num { return Num(float64(k) / 1024) }
	id.RSSBaselineMiB, id.RSSPeakMiB, id.RSSAfterMiB = mib(base.rssKiB), mib(peak.rssKiB), mib(after.rssKiB)
	id.RSSAddedMiB = mib(peak.rssKiB - base.rssKiB)
	id.FDsBaseline, id.FDsPeak, id.FDsAfter, id.ThreadsPeak = base.fds, peak.fds, after.fds, peak.threads
	id.FDsReleased = after.fds <= base.fds
	id.RSSReleased = after.rssKiB-base.rssKiB <= (peak.rssKiB-base.rssKiB)/2
	ok := float64(id.RSSAddedMiB) <= idleGoalMiB && id.Opened >= cfg.IdleStreams
	id.Meets = &ok
	return id
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), MemGiB: Num(math.NaN())}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemGiB = Num(kb / (1 << 20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
