package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tollgate-dev/tollgate/proxy"
)

// runToken implements "ollama-auth-proxy token [--token-file P] [--rotate]":
// print the token stored in the file (creating it when missing), or with
// --rotate write a new one atomically and print it.
func runToken(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	fs := flag.NewFlagSet(name+" token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("token-file", "", "token file (env "+EnvTokenFile+")")
	rotate := fs.Bool("rotate", false, "write a new token to the file and print it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: %s token [--token-file PATH] [--rotate]\n\n"+
				"Prints the token stored in the token file, creating the file with a new random\n"+
				"token when it is missing. --rotate writes a new token atomically and prints it;\n"+
				"a running proxy keeps the old token until it is restarted.\n\nFlags:\n", name)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return errHelp
		}
		return refuse("token: %v (see token --help)", err)
	}
	if fs.NArg() > 0 {
		return refuse("token: unexpected argument %q", fs.Arg(0))
	}
	if *path == "" {
		*path, _ = lookupEnv(EnvTokenFile)
	}
	if *path == "" {
		return refuse("token: no token file: pass --token-file or set %s", EnvTokenFile)
	}
	var (
		token    string
		warnings []string
		err      error
	)
	if *rotate {
		token, err = proxy.RotateTokenFile(*path)
	} else {
		token, warnings, err = proxy.LoadOrCreateTokenFile(*path)
	}
	if err != nil {
		return refuse("%v", err)
	}
	_ = warnings // tightening the mode is silent here: stdout carries only the token
	_, err = fmt.Fprintln(stdout, token)
	return err
}
