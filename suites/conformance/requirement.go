package conformance

import (
	"fmt"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

// specs maps each requirement ID to the spec that judges it; Requirement
// fills it at package init, so a test can prove the catalogue is covered.
var specs = map[string]bool{}

// Requirement declares the spec for one catalogue requirement: labelled with
// its ID, level, group, profile and needs, so --label-filter selects by any of
// them, and skipped with a reason when the run cannot judge it.
func Requirement(id string, body func(ctx SpecContext), decorators ...any) bool {
	r := catalog.MustLookup(id)
	if specs[id] {
		panic(fmt.Sprintf("conformance: second spec for %s", id))
	}
	specs[id] = true
	args := []any{Label(labels(r)...), SpecTimeout(specTimeout)}
	args = append(args, decorators...)
	args = append(args, func(ctx SpecContext) {
		if why := H.notApplicable(r); why != "" {
			Skip(why)
		}
		body(ctx)
	})
	return It(r.ID+" "+r.Text, args...)
}

const specTimeout = 90 * time.Second

func labels(r catalog.Requirement) []string {
	l := []string{r.ID, string(r.Level), r.Group}
	if r.Profile != catalog.AnyProfile {
		l = append(l, string(r.Profile))
	}
	for _, n := range r.Needs {
		l = append(l, string(n))
	}
	return l
}

// requirementOf finds the requirement a spec report belongs to.
func requirementOf(labels []string) (catalog.Requirement, bool) {
	for _, l := range labels {
		if r, ok := catalog.Lookup(l); ok {
			return r, true
		}
	}
	return catalog.Requirement{}, false
}

// notApplicable explains why this run cannot judge r ("" when it can).
func (h *Harness) notApplicable(r catalog.Requirement) string {
	if r.Profile != catalog.AnyProfile && r.Profile != h.cfg.profile() {
		return fmt.Sprintf("applies to the %s profile; this run uses %s", r.Profile, h.cfg.profile())
	}
	caps := h.cfg.caps()
	for _, n := range r.Needs {
		if caps[n] {
			continue
		}
		switch n {
		case catalog.TokenFile:
			return "the target does not declare the token-file capability"
		case catalog.Container:
			return "needs the container suites (make e2e, or an image target)"
		default:
			return fmt.Sprintf("a %s target gives the harness no %s control", h.cfg.Target.Kind(), n)
		}
	}
	return ""
}

// SpecIDs lists the requirement IDs that have a spec, sorted.
func SpecIDs() []string {
	ids := make([]string, 0, len(specs))
	for id := range specs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
