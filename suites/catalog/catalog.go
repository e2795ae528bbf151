// Package catalog declares every conformance requirement once: its stable ID,
// RFC 2119 level, group, the profile or capability it applies to, and one
// sentence of spec text. Specs refer to requirements by ID; reports and
// `tollgate list` are generated from this table.
package catalog

import (
	"fmt"
	"regexp"
	"sort"
)

// Version identifies the catalogue; bump it whenever a requirement is added,
// removed or changes meaning, and record why in suites/CHANGELOG.md.
const Version = "1.1.0"

// Level is the RFC 2119 strength of a requirement.
type Level string

const (
	Must   Level = "MUST"   // failing it makes the proxy non-conformant
	Should Level = "SHOULD" // failing it fails only --strict runs
)

// Profile names the exemption policy a requirement belongs to.
type Profile string

const (
	AnyProfile   Profile = ""              // applies to every profile
	HealthExempt Profile = "health-exempt" // exactly GET /api/tags is open (the seed's behaviour)
	StrictAuth   Profile = "strict-auth"   // the token is required everywhere
)

// Capability is something a requirement needs from the target or the harness.
type Capability string

const (
	Lifecycle Capability = "lifecycle"  // the harness starts, stops and restarts the proxy
	Output    Capability = "output"     // the harness sees the proxy's stdout and stderr
	TokenFile Capability = "token-file" // the proxy reads OLLAMA_PROXY_TOKEN_FILE (declared by the target)
	Container Capability = "container"  // needs a Docker engine
)

// Requirement is one testable statement about a proxy.
type Requirement struct {
	ID      string       `json:"id"`
	Level   Level        `json:"level"`
	Group   string       `json:"group"`
	Profile Profile      `json:"profile,omitempty"`
	Needs   []Capability `json:"needs,omitempty"`
	Text    string       `json:"text"`
}

var (
	byID  = map[string]Requirement{}
	order []string
	idRE  = regexp.MustCompile(`^[A-Z]{2,5}-\d{3}$`)
)

// declare registers requirements at init; a duplicate or malformed entry
// panics, so any binary or test importing the catalogue fails at start.
func declare(group string, reqs ...Requirement) {
	for _, r := range reqs {
		r.Group = group
		if !idRE.MatchString(r.ID) {
			panic(fmt.Sprintf("catalog: malformed requirement ID %q", r.ID))
		}
		if _, dup := byID[r.ID]; dup {
			panic(fmt.Sprintf("catalog: duplicate requirement ID %s", r.ID))
		}
		if r.Level != Must && r.Level != Should {
			panic(fmt.Sprintf("catalog: %s has no level", r.ID))
		}
		if r.Text == "" {
			panic(fmt.Sprintf("catalog: %s has no spec text", r.ID))
		}
		byID[r.ID] = r
		order = append(order, r.ID)
	}
}

// groupOrder is the reading order of the groups; Go initialises files in
// name order, so declaration order alone would depend on file names.
var groupOrder = []string{
	"authentication", "health-exemption", "strict-auth", "forwarding", "streaming", "errors",
	"start-up", "token-file", "restart", "real-clients", "hostile", "lifecycle", "network",
}

func groupRank(g string) int {
	for i, x := range groupOrder {
		if x == g {
			return i
		}
	}
	return len(groupOrder)
}

// All returns every requirement, group by group, in declaration order within a group.
func All() []Requirement {
	out := make([]Requirement, 0, len(order))
	for _, id := range order {
		out = append(out, byID[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return groupRank(out[i].Group) < groupRank(out[j].Group) })
	return out
}

// Lookup returns the requirement with the given ID.
func Lookup(id string) (Requirement, bool) {
	r, ok := byID[id]
	return r, ok
}

// MustLookup is Lookup for IDs written in code: an unknown ID is a programming error.
func MustLookup(id string) Requirement {
	r, ok := byID[id]
	if !ok {
		panic(fmt.Sprintf("catalog: unknown requirement ID %s", id))
	}
	return r
}

// Groups returns the group names in reading order.
func Groups() []string {
	seen := map[string]bool{}
	var gs []string
	for _, r := range All() {
		if g := r.Group; !seen[g] {
			seen[g] = true
			gs = append(gs, g)
		}
	}
	return gs
}

// IDs returns every ID, sorted.
func IDs() []string {
	ids := append([]string(nil), order...)
	sort.Strings(ids)
	return ids
}

// Needs reports whether r needs capability c.
func (r Requirement) NeedsCap(c Capability) bool {
	for _, n := range r.Needs {
		if n == c {
			return true
		}
	}
	return false
}
