package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tollgate-dev/tollgate/suites/descriptor"
)

// initCmd writes a commented starter descriptor: `tollgate init [--force] [FILE]`.
func initCmd(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("tollgate init", flag.ContinueOnError)
	fset.SetOutput(stderr)
	force := fset.Bool("force", false, "overwrite an existing file")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: tollgate init [--force] [FILE]\n\nwrites a commented target descriptor (default tollgate.yaml) for 'tollgate run -f FILE'")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fset.NArg() > 1 {
		fmt.Fprintf(stderr, "tollgate init: one file at most, got %q\n", fset.Args())
		return 2
	}
	path := "tollgate.yaml"
	if fset.NArg() == 1 {
		path = fset.Arg(0)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		fmt.Fprintf(stderr, "tollgate init: %s already exists; use --force to overwrite it\n", path)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate init: %v\n", err)
		return 2
	}
	_, err = io.WriteString(f, descriptor.Starter)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate init: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "wrote %s: set command (or another kind), then run: tollgate run -f %s\n", path, path)
	return 0
}
