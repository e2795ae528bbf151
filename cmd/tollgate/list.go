package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

func listCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tollgate list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "table, markdown or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	switch *format {
	case "table":
		err = catalog.WriteTable(stdout, catalog.All())
	case "markdown", "md":
		_, err = io.WriteString(stdout, catalog.Markdown())
	case "json":
		err = catalog.WriteJSON(stdout, catalog.All())
	default:
		fmt.Fprintf(stderr, "tollgate list: unknown --format %q (table, markdown or json)\n", *format)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate list: %v\n", err)
		return 2
	}
	return 0
}

func versionCmd(stdout io.Writer) int {
	fmt.Fprintf(stdout, "tollgate %s (catalogue %s)\n", toolVersion(), catalog.Version)
	return 0
}
