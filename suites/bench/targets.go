package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/proxy"
)

// running is a proxy under test, up and forwarding to the mock.
type running struct {
	base  string // http://127.0.0.1:port
	pid   int    // process group leader, 0 when in-process or unknown
	stop  func() error
	inApp bool // in this process
}

// startBuiltin serves the reference proxy in-process on 127.0.0.1.
func startBuiltin(backend, token string) (*running, error) {
	h, err := proxy.NewHandler(proxy.Config{ListenAddr: "127.0.0.1:0", BackendAddr: backend, Token: token, HealthExempt: true})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proxy.Serve(ctx, ln, h, proxy.Config{ShutdownGrace: time.Second}) }()
	return &running{
		base:  "http://" + ln.Addr().String(),
		inApp: true,
		stop: func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(5 * time.Second):
				return errors.New("builtin proxy did not stop within 5s")
			}
		},
	}, nil
}

// startExec starts command with the launch contract in its own process group
// and waits until its port accepts connections.
func startExec(command, backend, token string, stderr *bytes.Buffer) (*running, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	_, bport, err := net.SplitHostPort(backend)
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if f := strings.Fields(command); len(f) > 0 && !strings.ContainsAny(command, ";&|<>()$`\\\"'*?[]#~={}%\n") {
		cmd = exec.Command(f[0], f[1:]...)
	} else {
		cmd = exec.Command("/bin/sh", "-c", command)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OLLAMA_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "OLLAMA_PROXY_TOKEN="+token, "OLLAMA_PROXY_PORT="+strconv.Itoa(port), "OLLAMA_BACKEND_PORT="+bport)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %w", command, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	pgid := cmd.Process.Pid
	stop := func() error {
		select {
		case <-exited:
			return nil
		default:
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
			return nil
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
			return errors.New("proxy ignored SIGTERM for 5s; killed")
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("%q exited before listening: %s", command, lastLine(stderr.String()))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("%q did not listen on %s within 15s", command, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &running{base: "http://" + addr, pid: pgid, stop: stop}, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// buildReferenceBinary builds ./cmd/ollama-auth-proxy into dir, so the
// builtin proxy can be measured as a process of its own.
func buildReferenceBinary(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "ollama-auth-proxy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/tollgate-dev/tollgate/cmd/ollama-auth-proxy")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ollama-auth-proxy: %v: %s", err, lastLine(string(b)))
	}
	return out, nil
}

// procStats sums VmRSS (KiB), open FDs and threads over every process in
// process group pgid.
type procStats struct {
	rssKiB  int64
	fds     int
	threads int
}

func groupStats(pgid int) (procStats, error) {
	var s procStats
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return s, err
	}
	found := false
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pid != pgid && pgidOf(pid) != pgid {
			continue
		}
		st, err := pidStats(pid)
		if err != nil {
			continue
		}
		found = true
		s.rssKiB += st.rssKiB
		s.fds += st.fds
		s.threads += st.threads
	}
	if !found {
		return s, fmt.Errorf("no process in group %d", pgid)
	}
	return s, nil
}

func pgidOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return -1
	}
	n, _ := strconv.Atoi(f[2])
	return n
}

func pidStats(pid int) (procStats, error) {
	var s procStats
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			s.rssKiB, _ = strconv.ParseInt(strings.Fields(line)[1], 10, 64)
		case strings.HasPrefix(line, "Threads:"):
			s.threads, _ = strconv.Atoi(strings.Fields(line)[1])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err == nil {
		s.fds = len(fds)
	}
	return s, nil
}
