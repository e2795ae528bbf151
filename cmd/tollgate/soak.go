package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/suites/soak"
)

// soakCmd is `tollgate soak`: many concurrent mixed clients through the
// reference proxy on loopback, every answer and verified stream checked,
// resources back to baseline afterwards. Exit 0 clean, 1 not, 2 harness error.
func soakCmd(args []string, stdout, stderr io.Writer) int {
	var cfg soak.Config
	var mib [2]int64
	fs := flag.NewFlagSet("tollgate soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long the mixed clients run")
	fs.IntVar(&cfg.Clients, "clients", 1000, "concurrent clients")
	fs.Int64Var(&mib[0], "huge-stream-mib", 100, "MiB of the one streamed response verified by sha256 end to end (-1 skips)")
	fs.Int64Var(&mib[1], "huge-upload-mib", 50, "MiB of the one request body verified by sha256 end to end (-1 skips)")
	fs.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the request mix")
	fs.DurationVar(&cfg.Settle, "settle", 20*time.Second, "how long goroutines, fds and memory may take to come back to baseline")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tollgate soak: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.HugeStream, cfg.HugeUpload = mibOrSkip(mib[0]), mibOrSkip(mib[1])
	cfg.Log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "tollgate %s: soak, seed %d\n", toolVersion(), cfg.Seed)
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate soak: %v\n", err)
		return 2
	}
	rep.Print(stdout)
	if !rep.OK() {
		return 1
	}
	return 0
}

func mibOrSkip(n int64) int64 {
	if n < 0 {
		return -1
	}
	if n == 0 {
		return -1
	}
	return n << 20
}
