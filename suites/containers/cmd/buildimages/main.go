// Command buildimages builds Tollgate's container images (make images):
// static binaries compiled on the host, packaged FROM scratch, rebuilt only
// when their content hash changed. Nothing is pulled.
//
//	go run ./suites/containers/cmd/buildimages [-force] [name...]
//
// Names: ollama-auth-proxy, mockollama, probe (default: all). Exit status 2
// with one line on stderr when the engine is missing or a build fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tollgate-dev/tollgate/fixtures/images"
	"github.com/tollgate-dev/tollgate/suites/containers"
)

func main() {
	force := flag.Bool("force", false, "rebuild even when an image is up to date")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: buildimages [-force] [ollama-auth-proxy|mockollama|probe ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	var specs []images.Spec
	for _, name := range flag.Args() {
		s, ok := images.ByName(name)
		if !ok {
			fmt.Fprintf(os.Stderr, "buildimages: unknown image %q\n", name)
			os.Exit(2)
		}
		specs = append(specs, s)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := containers.CheckEngine(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "buildimages:", err)
		os.Exit(2)
	}
	if _, err := containers.EnsureImages(ctx, containers.BuildOptions{Images: specs, Force: *force, Log: os.Stdout}); err != nil {
		fmt.Fprintln(os.Stderr, "buildimages:", err)
		os.Exit(2)
	}
}
