package target

import (
	"context"
	"net/url"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

// URL is a proxy the user already runs against the harness's mock. The
// harness cannot start, stop or read it, so lifecycle specs are skipped.
type URL struct {
	Base     *url.URL
	Declared []catalog.Capability
}

func (u *URL) Kind() string   { return "url" }
func (u *URL) String() string { return "url: " + u.Base.Redacted() }

func (u *URL) Caps() Caps {
	c := Caps{}
	for _, d := range u.Declared {
		if d != catalog.Lifecycle && d != catalog.Output {
			c[d] = true
		}
	}
	return c
}

func (u *URL) Start(context.Context, Launch) (Instance, error) { return nil, ErrNoLifecycle }

// Attached returns the running proxy as an Instance that never exits.
func (u *URL) Attached() Instance { return attached{addr: u.Base.Host} }

type attached struct{ addr string }

func (a attached) Addr() string               { return a.addr }
func (a attached) Output() string             { return "" }
func (a attached) Done() <-chan struct{}      { return nil }
func (a attached) ExitCode() int              { return 0 }
func (a attached) Stop(context.Context) error { return ErrNoLifecycle }
func (a attached) Kill() error                { return ErrNoLifecycle }
