package conformance

import "github.com/tollgate-dev/tollgate/suites/target"

// On returns a harness view that sends requests to another instance of the
// proxy (same mock, same client), for specs that start their own.
func (h *Harness) On(inst target.Instance) *Harness {
	c := *h
	c.Proxy = inst
	return &c
}
