package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/suites/bench"
)

// benchCmd is `tollgate bench`: throughput, latency, streaming and idle
// stream cost of a proxy, each against the direct path in the same run.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	d := bench.Defaults
	var cfg bench.Config
	var conns string
	fs := flag.NewFlagSet("tollgate bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Exec, "exec", "", "bench this command, started with the launch contract (default: the builtin reference proxy)")
	fs.StringVar(&cfg.URL, "url", "", "bench a proxy already running at this URL (needs --token; it must forward to --backend-listen)")
	fs.StringVar(&cfg.Token, "token", "", "url targets: the token the running proxy requires")
	fs.StringVar(&cfg.Backend, "backend-listen", "127.0.0.1:11434", "url targets: host:port the running proxy forwards to; the bench's mock listens there")
	fs.StringVar(&cfg.VsExec, "vs-exec", "", "a second proxy command, measured in the same rounds for a side-by-side table")
	fs.IntVar(&cfg.Rounds, "rounds", d.Rounds, "rounds; every figure is the median over rounds")
	fs.DurationVar(&cfg.Duration, "duration", d.Duration, "length of each measurement, per path, per round")
	fs.StringVar(&conns, "conns", joinInts(d.Conns), "keep-alive connection counts for throughput")
	fs.IntVar(&cfg.Rate, "rate", d.Rate, "open-loop request rate (per second) for the latency measurement")
	fs.IntVar(&cfg.IdleStreams, "idle-streams", d.IdleStreams, "concurrent idle streams for the memory measurement (-1 to skip)")
	fs.StringVar(&cfg.ProxyBin, "proxy-bin", "", "builtin idle streams: run this ollama-auth-proxy binary instead of building ./cmd/ollama-auth-proxy")
	fs.StringVar(&cfg.ReportDir, "report-dir", d.ReportDir, "write bench.json here")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tollgate bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Conns = nil
	for _, s := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintf(stderr, "tollgate bench: --conns: %q is not a number\n", s)
			return 2
		}
		cfg.Conns = append(cfg.Conns, n)
	}
	if cfg.URL == "" {
		cfg.Backend = ""
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "tollgate bench: %v\n", err)
		return 2
	}
	cfg.ToolVersion, cfg.Out = toolVersion(), stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate bench: %v\n", err)
		return 2
	}
	rep.WriteTable(stdout)
	fmt.Fprintf(stdout, "\nreport: %s/bench.json (%s)\n", strings.TrimRight(cfg.ReportDir, "/"), rep.Elapsed)
	return 0
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
