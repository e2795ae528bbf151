package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/suites/conformance"
	"github.com/tollgate-dev/tollgate/suites/containers"
	"github.com/tollgate-dev/tollgate/suites/descriptor"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// fileTarget is what `run -f FILE` read, once merged with the flags.
type fileTarget struct {
	d *descriptor.Descriptor
	// target: the descriptor chose the target (no --exec or --url was given).
	target bool
	// skipReasons: the skip list came from the file, so its reasons apply.
	skipReasons bool
}

// applyDescriptor reads the descriptor named by -f and fills every option
// the command line did not give: flags override the file. --exec or --url
// replace the file's whole target (kind, command, url, token_env,
// backend_listen, env). It returns nil when there is no -f.
func applyDescriptor(path string, o *runOpts, fs *flag.FlagSet) (*fileTarget, error) {
	if path == "" {
		return nil, nil
	}
	d, err := descriptor.Load(path)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	ft := &fileTarget{d: d, target: !set["exec"] && !set["url"] && !set["image"]}
	if ft.target {
		switch d.Kind {
		case descriptor.KindImage:
			o.image = d.Image
			if !set["host-network"] {
				o.hostNetwork = d.HostNetwork
			}
		case descriptor.KindExec:
			o.exec = d.Command
		case descriptor.KindURL:
			o.url = d.URL
			if !set["backend-listen"] {
				o.backendListen = d.BackendListen
			}
			if !set["token"] {
				o.token = os.Getenv(d.TokenEnv)
				if strings.TrimSpace(o.token) == "" {
					return nil, fmt.Errorf("%s: token_env: environment variable %s is not set or empty (it must hold the running proxy's token)", path, d.TokenEnv)
				}
			}
		}
	}
	if !set["profile"] && d.Profile != "" {
		o.profile = d.Profile
	}
	if !set["strict"] && d.Strict != nil {
		o.strict = *d.Strict
	}
	if !set["capabilities"] && d.Capabilities != nil {
		o.caps = listFlag(d.Capabilities)
	}
	if !set["focus"] && d.Focus != nil {
		o.focus = listFlag(d.Focus)
	}
	if !set["skip"] && d.Skip != nil {
		o.skip = listFlag(d.SkipIDs())
		ft.skipReasons = true
	}
	return ft, nil
}

// finishDescriptor gives the run what the flags cannot carry: the exec
// command's directory (the descriptor's) and extra environment, the skip
// reasons, and a record of the descriptor in results.json's config.
func finishDescriptor(cfg *conformance.Config, ft *fileTarget, stdout io.Writer) {
	if ft == nil {
		return
	}
	d := ft.d
	if cfg.Redacted == nil {
		cfg.Redacted = map[string]string{}
	}
	cfg.Redacted["descriptor"] = d.Path
	if ft.target {
		cfg.Redacted["kind"] = d.Kind
		envApplied := true
		switch t := cfg.Target.(type) {
		case *target.Exec:
			t.Dir, t.ExtraEnv = d.Dir, d.Env
			cfg.Redacted["dir"] = d.Dir
		case *containers.HostNetImage:
			t.ExtraEnv = d.Env
		default:
			envApplied = false
		}
		if envApplied {
			if len(d.Env) > 0 {
				keys := make([]string, 0, len(d.Env))
				for k := range d.Env {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				cfg.Redacted["env"] = strings.Join(keys, ",") // names only: values may be secrets
			}
		}
		if d.Kind == descriptor.KindURL {
			cfg.Redacted["token_env"] = d.TokenEnv
		}
	}
	if ft.skipReasons && len(d.Skip) > 0 {
		var parts []string
		for _, s := range d.Skip {
			parts = append(parts, s.ID+": "+s.Reason)
			fmt.Fprintf(stdout, "skipping %s (%s): %s\n", s.ID, filepath.Base(d.Path), s.Reason)
		}
		cfg.Redacted["skip"] = strings.Join(parts, "; ")
	}
}
