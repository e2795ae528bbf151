// Command tollgate-probe is the tiny static program Tollgate runs inside
// containers to look at the network and the file system from there. Every
// probe prints exactly one JSON line on stdout and exits 0 whenever the probe
// itself ran, whatever it found; only a usage error exits 2.
//
//	tollgate-probe http --url U [--method M] [--header 'K: V']... [--data S] [--timeout 3s]
//	tollgate-probe dial --addr host:port [--timeout 2s]
//	tollgate-probe stat --path P
//	tollgate-probe idle                 # block until SIGTERM, for exec-based probing
//	tollgate-probe version
//
// The harness parses the line (see suites/containers.ProbeResult); nothing
// else is ever written to stdout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// version is stamped by the image builder with -ldflags; it is informative only.
var version = "dev"

// result is the one JSON line a probe prints. Field names are the contract
// with suites/containers.ProbeResult.
type result struct {
	Probe     string `json:"probe"`
	OK        bool   `json:"ok"`
	Target    string `json:"target,omitempty"`
	Status    int    `json:"status,omitempty"`
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"` // refused, timeout, dns, reset, other
	BodyHead  string `json:"body_head,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"`
	Lines     int    `json:"lines,omitempty"`
	Done      bool   `json:"ndjson_done,omitempty"` // the last NDJSON line had "done": true
	Mode      string `json:"mode,omitempty"`
	Type      string `json:"type,omitempty"`
	UID       *int   `json:"uid,omitempty"`
	GID       *int   `json:"gid,omitempty"`
	Size      *int64 `json:"size,omitempty"`
	ElapsedMS int64  `json:"elapsed_ms"`
}

const bodyHeadMax = 256

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: tollgate-probe http|dial|stat|idle|version [flags]")
		return 2
	}
	var (
		res result
		err error
	)
	switch args[0] {
	case "http":
		res, err = probeHTTP(args[1:], stderr)
	case "dial":
		res, err = probeDial(args[1:], stderr)
	case "stat":
		res, err = probeStat(args[1:], stderr)
	case "idle":
		idle()
		return 0
	case "version":
		fmt.Fprintln(stdout, version)
		return 0
	default:
		fmt.Fprintf(stderr, "tollgate-probe: unknown probe %q (want http, dial, stat, idle or version)\n", args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate-probe %s: %v\n", args[0], err)
		return 2
	}
	line, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", line)
	return 0
}

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tollgate-probe "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func probeHTTP(args []string, stderr io.Writer) (result, error) {
	fs := newFlags("http", stderr)
	url := fs.String("url", "", "URL to request")
	method := fs.String("method", http.MethodGet, "HTTP method")
	data := fs.String("data", "", "request body")
	timeout := fs.Duration("timeout", 3*time.Second, "overall deadline, body included")
	var headers headerList
	fs.Var(&headers, "header", "request header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return result{}, err
	}
	if *url == "" {
		return result{}, errors.New("--url is required")
	}
	res := result{Probe: "http", Target: *url}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var body io.Reader
	if *data != "" {
		body = strings.NewReader(*data)
	}
	req, err := http.NewRequestWithContext(ctx, *method, *url, body)
	if err != nil {
		return result{}, err
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return result{}, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if *data != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.ElapsedMS = time.Since(start).Milliseconds()
		res.Error, res.ErrorKind = err.Error(), classify(err)
		return res, nil
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	head, n, lines, done, rerr := readBody(resp.Body)
	res.ElapsedMS = time.Since(start).Milliseconds()
	res.BodyHead, res.Bytes, res.Lines, res.Done = head, n, lines, done
	if rerr != nil {
		// A status arrived but the body did not complete: report both.
		res.Error, res.ErrorKind = "reading body: "+rerr.Error(), classify(rerr)
		return res, nil
	}
	res.OK = true
	return res, nil
}

// readBody drains r, keeping the first bytes, counting lines and noting
// whether the last non-empty line is an NDJSON object with "done": true.
func readBody(r io.Reader) (head string, n int64, lines int, done bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var headBuf bytes.Buffer
	for {
		line, rerr := br.ReadBytes('\n')
		n += int64(len(line))
		if headBuf.Len() < bodyHeadMax {
			rest := bodyHeadMax - headBuf.Len()
			if rest > len(line) {
				rest = len(line)
			}
			headBuf.Write(line[:rest])
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			lines++
			var obj struct {
				Done *bool `json:"done"`
			}
			done = json.Unmarshal(t, &obj) == nil && obj.Done != nil && *obj.Done
		}
		if rerr == io.EOF {
			return headBuf.String(), n, lines, done, nil
		}
		if rerr != nil {
			return headBuf.String(), n, lines, done, rerr
		}
	}
}

func probeDial(args []string, stderr io.Writer) (result, error) {
	fs := newFlags("dial", stderr)
	addr := fs.String("addr", "", "host:port to connect to over TCP")
	timeout := fs.Duration("timeout", 2*time.Second, "connect deadline")
	if err := fs.Parse(args); err != nil {
		return result{}, err
	}
	if *addr == "" {
		return result{}, errors.New("--addr is required")
	}
	res := result{Probe: "dial", Target: *addr}
	start := time.Now()
	conn, err := net.DialTimeout("tcp", *addr, *timeout)
	res.ElapsedMS = time.Since(start).Milliseconds()
	if err != nil {
		res.Error, res.ErrorKind = err.Error(), classify(err)
		return res, nil
	}
	_ = conn.Close()
	res.OK = true
	return res, nil
}

func probeStat(args []string, stderr io.Writer) (result, error) {
	fs := newFlags("stat", stderr)
	path := fs.String("path", "", "file to stat (not followed if a symlink)")
	if err := fs.Parse(args); err != nil {
		return result{}, err
	}
	if *path == "" {
		return result{}, errors.New("--path is required")
	}
	res := result{Probe: "stat", Target: *path}
	start := time.Now()
	fi, err := os.Lstat(*path)
	res.ElapsedMS = time.Since(start).Milliseconds()
	if err != nil {
		res.Error, res.ErrorKind = err.Error(), "other"
		if errors.Is(err, os.ErrNotExist) {
			res.ErrorKind = "missing"
		}
		return res, nil
	}
	res.OK = true
	res.Mode = fmt.Sprintf("%04o", fi.Mode().Perm()|specialBits(fi.Mode()))
	res.Type = fileType(fi.Mode())
	size := fi.Size()
	res.Size = &size
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid := int(st.Uid), int(st.Gid)
		res.UID, res.GID = &uid, &gid
	}
	return res, nil
}

func specialBits(m os.FileMode) os.FileMode {
	var b os.FileMode
	if m&os.ModeSetuid != 0 {
		b |= 04000
	}
	if m&os.ModeSetgid != 0 {
		b |= 02000
	}
	if m&os.ModeSticky != 0 {
		b |= 01000
	}
	return b
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&os.ModeSymlink != 0:
		return "symlink"
	default:
		return "other"
	}
}

// classify reduces a network error to a small vocabulary the harness can
// reason about without parsing messages.
func classify(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "timeout"
	default:
		return "other"
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// idle blocks until SIGTERM or SIGINT. As PID 1 in a scratch image the
// process gets no default signal disposition, so it must handle them itself.
func idle() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
