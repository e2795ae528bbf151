package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/suites/catalog"
)

// Bad run flags are configuration errors: exit 2, one line, nothing judged.
func TestRunFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--profile", "open"}, `unknown --profile "open"`},
		{[]string{"--capabilities", "teleport"}, `unknown capability "teleport"`},
		{[]string{"--exec", "x", "--url", "http://127.0.0.1:1"}, "--exec and --url are exclusive"},
		{[]string{"--url", "http://127.0.0.1:1"}, "--url needs --token and --backend-listen"},
		{[]string{"--url", "ftp://x", "--token", "t", "--backend-listen", "127.0.0.1:2"}, "--url must be http://host:port"},
		{[]string{"--token", "abc"}, "--token is only for --url targets"},
		{[]string{"--focus", "AUTH-001 || true"}, "not expressions"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--image", "x", "--exec", "y"}, "exclusive"},
		{[]string{"--host-network"}, "--host-network goes with --image"},
		{[]string{"--image", "x", "--host-network", "--profile", "open"}, `unknown --profile "open"`},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := dispatch(append([]string{"run"}, c.args...), &stdout, &stderr)
		msg := strings.TrimSuffix(stderr.String(), "\n")
		if code != 2 || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", c.args, code, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: something ran: %q", c.args, stdout.String())
		}
	}
}

func TestListFormats(t *testing.T) {
	for _, f := range []string{"table", "markdown", "json"} {
		var stdout, stderr bytes.Buffer
		if code := dispatch([]string{"list", "--format", f}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "AUTH-001") {
			t.Errorf("list --format %s: exit %d, %q", f, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := dispatch([]string{"list", "--format", "yaml"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("list --format yaml: exit %d", code)
	}
	if code := dispatch([]string{"frobnicate"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

// Every requirement the workers can judge lands in exactly one shard.
func TestShardsCoverTheCatalogueOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8} {
		seen := map[string]int{}
		for _, s := range shards(n) {
			for _, id := range s {
				seen[id]++
			}
		}
		for _, r := range catalog.All() {
			want := 1
			if r.NeedsCap(catalog.Container) {
				want = 0
			}
			if seen[r.ID] != want {
				t.Errorf("n=%d: %s is in %d shards, want %d", n, r.ID, seen[r.ID], want)
			}
		}
	}
}
