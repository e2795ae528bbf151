package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runProbe(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 {
		t.Fatalf("%v: %d lines on stdout, want exactly one: %q", args, n, stdout.String())
	}
	var r result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("%v: not JSON: %v", args, err)
	}
	return r
}

func TestHTTPProbeReportsStatusHeadersAndStreams(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer T" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"unauthorized"}`)
			return
		}
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "{\"response\":\"x\",\"done\":%t}\n", i == 2)
		}
	}))
	defer srv.Close()
	r := runProbe(t, "http", "--url", srv.URL)
	if !r.OK || r.Status != 401 || r.BodyHead != `{"error":"unauthorized"}` || r.Done {
		t.Fatalf("no token: %+v", r)
	}
	r = runProbe(t, "http", "--url", srv.URL, "--header", "Authorization: Bearer T", "--method", "POST", "--data", "{}")
	if !r.OK || r.Status != 200 || r.Lines != 3 || !r.Done {
		t.Fatalf("token: %+v", r)
	}
}

func TestDialProbeClassifiesRefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if r := runProbe(t, "dial", "--addr", addr); !r.OK {
		t.Fatalf("open port: %+v", r)
	}
	ln.Close()
	if r := runProbe(t, "dial", "--addr", addr); r.OK || r.ErrorKind != "refused" {
		t.Fatalf("closed port: %+v", r)
	}
}

func TestStatProbeReportsModeAndOwner(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runProbe(t, "stat", "--path", p)
	if !r.OK || r.Mode != "0600" || r.Type != "file" || r.UID == nil || *r.UID != os.Getuid() {
		t.Fatalf("%+v", r)
	}
	if r := runProbe(t, "stat", "--path", p+".missing"); r.OK || r.ErrorKind != "missing" {
		t.Fatalf("missing: %+v", r)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"http"}, {"dial"}, {"http", "--url", "http://x", "--header", "bad"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q", args, code, out.String())
		}
	}
}
