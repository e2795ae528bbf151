package containers

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests need no Docker; the engine-backed suite is e2e_test.go (build tag e2e).

func TestParseProbeTakesTheLastJSONLine(t *testing.T) {
	out := "noise\n{\"probe\":\"http\",\"ok\":true,\"status\":401,\"elapsed_ms\":3}\n"
	r, err := parseProbe(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Probe != "http" || r.Status != 401 || !r.OK || r.Outcome() != "401" {
		t.Fatalf("got %+v (%s)", r, r.Outcome())
	}
	if _, err := parseProbe("no json here"); err == nil {
		t.Fatal("a probe without a result line parsed")
	}
}

func TestProbeOutcomeIsShortAndReadable(t *testing.T) {
	uid, gid := 65532, 65532
	for _, c := range []struct {
		r    ProbeResult
		want string
	}{
		{ProbeResult{Probe: "dial", OK: true}, "connected"},
		{ProbeResult{Probe: "dial", ErrorKind: "refused", Error: "dial tcp: connect: connection refused"}, "connection refused"},
		{ProbeResult{Probe: "http", ErrorKind: "timeout", Error: "context deadline exceeded"}, "timed out"},
		{ProbeResult{Probe: "http", Status: 200, Error: "reading body: unexpected EOF", ErrorKind: "reset"}, "200 then connection reset"},
		{ProbeResult{Probe: "stat", OK: true, Mode: "0600", UID: &uid, GID: &gid}, "mode 0600 uid 65532 gid 65532"},
		{ProbeResult{Probe: "http", Error: "weird\nmultiline"}, "weird multiline"},
	} {
		if got := c.r.Outcome(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.r, got, c.want)
		}
	}
}

func TestHTTPProbeArgsCarryTheTokenOnlyInTheHeader(t *testing.T) {
	a := HTTPProbe{URL: "http://x:1/api/tags", Token: "T0K", Method: "POST", Data: "{}", Timeout: 3 * time.Second}.args()
	got := strings.Join(a, " ")
	want := "http --url http://x:1/api/tags --method POST --header Authorization: Bearer T0K --data {} --timeout 3s"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func tarOf(t *testing.T, hdr *tar.Header, body string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr.Size = int64(len(body))
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestReadTarFileReportsTheEnginesView(t *testing.T) {
	buf := tarOf(t, &tar.Header{Name: "token", Mode: 0o600, Uid: 65532, Gid: 65533, Typeflag: tar.TypeReg}, "secret\n")
	fi, b, err := readTarFile(buf, "/var/lib/x/token", 3)
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModeString() != "0600" || fi.UID != 65532 || fi.GID != 65533 || fi.Type != "file" || fi.Size != 7 || string(b) != "sec" {
		t.Fatalf("got %+v %q", fi, b)
	}
	buf = tarOf(t, &tar.Header{Name: "token", Linkname: "/etc/passwd", Mode: 0o777, Typeflag: tar.TypeSymlink}, "")
	fi, b, err = readTarFile(buf, "/var/lib/x/token", 100)
	if err != nil || fi.Type != "symlink" || b != nil {
		t.Fatalf("symlink: %+v %q %v", fi, b, err)
	}
	if _, _, err := readTarFile(&bytes.Buffer{}, "/x", 1); err == nil {
		t.Fatal("an empty archive was accepted")
	}
}

func TestTarContextHashIsDeterministicAndContentSensitive(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\n", 0o644)
	write("bin", "\x7fELF", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, h1, err := tarContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Touching a file changes its mtime, not the hash.
	future := time.Now().Add(time.Hour)
	_ = os.Chtimes(filepath.Join(dir, "bin"), future, future)
	_, h2, _ := tarContext(dir)
	if h1 != h2 {
		t.Fatalf("hash depends on mtimes: %s vs %s", h1, h2)
	}
	write("bin", "\x7fELF2", 0o755)
	_, h3, _ := tarContext(dir)
	if h3 == h1 {
		t.Fatal("hash ignores the binary's content")
	}
	_ = os.Chmod(filepath.Join(dir, "state"), 0o755)
	_, h4, _ := tarContext(dir)
	if h4 == h3 {
		t.Fatal("hash ignores directory modes")
	}
}

func TestVerdictLines(t *testing.T) {
	c := newCheck("NET-001", Testcontainers, "401 then 200")
	c.observe(true, "without token: %s", "401")
	c.observe(false, "with token: %s", "connection refused")
	v := c.done()
	if v.Pass || !v.Failed() {
		t.Fatalf("a failed observation passed: %+v", v)
	}
	if s := v.String(); !strings.HasPrefix(s, "NET-001 FAIL") || !strings.Contains(s, "expected 401 then 200; actual without token: 401; with token: connection refused") {
		t.Fatalf("line: %q", s)
	}
	h := newCheck("NET-002", Dockertest, "x").harness("engine\ngone")
	if h.Pass || h.Failed() || h.String() != "NET-002 ERROR (0s): engine gone" {
		t.Fatalf("harness error: %+v %q", h, h.String())
	}
	if empty := newCheck("NET-003", Dockertest, "x").done(); empty.Pass {
		t.Fatal("a check without observations passed")
	}
	if s := newCheck("NET-004", Dockertest, "x").skip("no token-file"); s.Pass || s.Failed() || !strings.Contains(s.String(), "SKIP") {
		t.Fatalf("skip: %+v", s)
	}
}

func TestSmallHelpers(t *testing.T) {
	for ref, want := range map[string][2]string{
		"tollgate/probe:dev":          {"tollgate/probe", "dev"},
		"tollgate/probe":              {"tollgate/probe", "latest"},
		"localhost:5000/x/probe":      {"localhost:5000/x/probe", "latest"},
		"localhost:5000/x/probe:v1.2": {"localhost:5000/x/probe", "v1.2"},
	} {
		if r, tag := splitRef(ref); r != want[0] || tag != want[1] {
			t.Errorf("splitRef(%q) = %q %q", ref, r, tag)
		}
	}
	if k, v := parseSelector("tollgate.run=tg1"); k != "tollgate.run" || v != "tg1" {
		t.Errorf("parseSelector: %q %q", k, v)
	}
	if !versionLess("1.39", "1.40") || versionLess("1.41", "1.40") || versionLess("1.100", "1.40") {
		t.Error("versionLess")
	}
	if id := NewRunID(); len(id) != 12 || !strings.HasPrefix(id, "tg") || id == NewRunID() {
		t.Errorf("run ID %q", id)
	}
	if !isNetnsJoiner("container:abc") || isNetnsJoiner("bridge") {
		t.Error("isNetnsJoiner")
	}
	ci := ContainerInfo{IPs: map[string]string{"b": "10.0.0.2", "a": "10.0.0.1"}}
	if ci.IP("b") != "10.0.0.2" || ci.IP("zzz") != "10.0.0.1" {
		t.Error("ContainerInfo.IP")
	}
}

func TestUnknownDriverIsRefusedInOneLine(t *testing.T) {
	_, err := NewDriver(t.Context(), "podman-magic")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "testcontainers or dockertest") {
		t.Fatalf("got %v", err)
	}
}

func TestEngineErrorsAreOneLineAndMarked(t *testing.T) {
	err := engineError(os.ErrPermission)
	if !strings.HasPrefix(err.Error(), "container engine unavailable: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %q", err)
	}
	if !errors.Is(err, ErrEngine) {
		t.Fatal("not marked ErrEngine")
	}
}
