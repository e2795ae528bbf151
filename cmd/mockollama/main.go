// Command mockollama serves Tollgate's deterministic mock of Ollama's HTTP API.
//
//	mockollama --listen 127.0.0.1:11434 [--control 127.0.0.1:11999] [--models a,b]
//	           [--seed N] [--chunks N] [--interval D] [--verbose]
//
// X-Mock-* request headers inject faults (see the mockollama package); the
// optional control listener serves the request record and default faults.
// Bad flags exit 2 with one line on stderr; SIGTERM or SIGINT stops it cleanly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/mockollama"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: mockollama --listen HOST:PORT [--control HOST:PORT] [--models a,b] [--seed N] [--chunks N] [--interval D] [--verbose]

Serves a deterministic mock of Ollama's HTTP API (native /api/* and OpenAI-compatible /v1/*).
X-Mock-* request headers inject faults; --control serves GET/DELETE /record, GET/PUT/DELETE /faults, GET /healthz.

flags:
`

type config struct {
	listen, control string
	opts            mockollama.Options
	verbose         bool
}

func parse(args []string, stdout io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("mockollama", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:11434", "address for the Ollama API")
	fs.StringVar(&c.control, "control", "", "address for the control API (off when empty; never the Ollama port)")
	models := fs.String("models", strings.Join(mockollama.DefaultModels, ","), "comma-separated model names")
	fs.Int64Var(&c.opts.Seed, "seed", 0, "seed: the text is a function of (seed, model, prompt)")
	fs.IntVar(&c.opts.Chunks, "chunks", mockollama.DefaultChunks, "content chunks per streamed response")
	fs.DurationVar(&c.opts.Interval, "interval", 0, "delay between chunks, e.g. 50ms")
	fs.StringVar(&c.opts.Version, "ollama-version", mockollama.DefaultVersion, "version reported by /api/version")
	fs.BoolVar(&c.verbose, "verbose", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := checkAddr("--listen", c.listen); err != nil {
		return c, err
	}
	if c.control != "" {
		if err := checkAddr("--control", c.control); err != nil {
			return c, err
		}
		if sameAddr(c.listen, c.control) {
			return c, fmt.Errorf("--control %s must differ from --listen: the control API never shares the Ollama port", c.control)
		}
	}
	if c.opts.Chunks < 1 || c.opts.Chunks > 1_000_000 {
		return c, fmt.Errorf("--chunks %d: want an integer between 1 and 1000000", c.opts.Chunks)
	}
	if c.opts.Interval < 0 || c.opts.Interval > time.Hour {
		return c, fmt.Errorf("--interval %s: want a duration between 0 and 1h", c.opts.Interval)
	}
	if strings.TrimSpace(c.opts.Version) == "" {
		return c, errors.New("--ollama-version must not be empty")
	}
	for _, m := range strings.Split(*models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			if strings.ContainsAny(m, " \t\"'") {
				return c, fmt.Errorf("--models: %q is not a model name", m)
			}
			c.opts.Models = append(c.opts.Models, m)
		}
	}
	if len(c.opts.Models) == 0 {
		return c, errors.New("--models: give at least one model name")
	}
	return c, nil
}

func checkAddr(flagName, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: want HOST:PORT, e.g. 127.0.0.1:11434", flagName, addr)
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 0 || p > 65535 || fmt.Sprint(p) != port {
		return fmt.Errorf("%s %q: port %q is not a number between 0 and 65535", flagName, addr, port)
	}
	return nil
}

func sameAddr(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	return pa == pb && pa != "0" && (ha == hb || ha == "" || hb == "" || ha == "0.0.0.0" || hb == "0.0.0.0" || ha == "::" || hb == "::")
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mockollama: %v (see --help)\n", err)
		return 2
	}
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelDebug
	}
	c.opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	srv, err := mockollama.Start(c.listen, c.opts)
	if err != nil {
		fmt.Fprintf(stderr, "mockollama: cannot listen on %s: %v\n", c.listen, err)
		return 1
	}
	defer srv.Close()

	line := fmt.Sprintf("mockollama %s listening on %s", c.opts.Version, srv.URL)
	var ctl *http.Server
	if c.control != "" {
		ln, err := net.Listen("tcp", c.control)
		if err != nil {
			fmt.Fprintf(stderr, "mockollama: cannot listen on %s (control): %v\n", c.control, err)
			return 1
		}
		ctl = &http.Server{Handler: srv.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ctl.Serve(ln) }()
		line += fmt.Sprintf(", control API on http://%s", ln.Addr())
	}
	fmt.Fprintln(stdout, line)

	<-ctx.Done()
	if ctl != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = ctl.Shutdown(sctx)
		cancel()
		_ = ctl.Close()
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "mockollama: closing: %v\n", err)
		return 1
	}
	return 0
}
