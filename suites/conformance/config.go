package conformance

import (
	"io"

	"github.com/tollgate-dev/tollgate/suites/catalog"
	"github.com/tollgate-dev/tollgate/suites/report"
	"github.com/tollgate-dev/tollgate/suites/target"
)

// Config is one conformance run.
type Config struct {
	Target        target.Target
	Profile       catalog.Profile // HealthExempt (default) or StrictAuth
	Token         string          // url targets: the token the running proxy requires
	BackendListen string          // url targets: the address the proxy forwards to, where the mock listens
	Strict        bool            // SHOULD failures fail the run too
	Focus, Skip   []string        // requirement IDs, groups or labels
	Shard         []string        // a parallel worker's share of the requirement IDs (nil: all)
	Worker        bool            // a parallel worker: per-requirement lines only, the parent sums up
	ReportDir     string          // JUnit, results.json, summary.md; "" for none
	Seed          int64           // spec order and the mock's text
	Out           io.Writer       // one line per requirement
	Printer       report.Printer  // how results are shown; nil: report.Human on Out
	ToolVersion   string
	Redacted      map[string]string // descriptor settings safe to print (no secrets)
}

func (c Config) caps() target.Caps { return c.Target.Caps() }

func (c Config) printer() report.Printer {
	if c.Printer != nil {
		return c.Printer
	}
	return &report.Human{W: c.Out}
}

func (c Config) profile() catalog.Profile {
	if c.Profile == catalog.AnyProfile {
		return catalog.HealthExempt
	}
	return c.Profile
}
