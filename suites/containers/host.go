package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// HostGatewayName is the name a sandbox uses for the host, as NemoClaw's
// sandbox does: it resolves to the engine's host-gateway address.
const HostGatewayName = "host.openshell.internal"

// Paths the checks request. /api/version is protected in every profile
// (HLTH-010), /api/tags is what an authenticated client lists models with.
const (
	protectedPath = "/api/version"
	tagsPath      = "/api/tags"
)

// HostTarget is a proxy running as a host process, NemoClaw's topology: the
// mock on 127.0.0.1:BackendPort and the proxy on 0.0.0.0:ProxyPort, reached
// from containers through host-gateway. The caller starts both.
type HostTarget struct {
	ProxyPort   int
	BackendPort int
	Token       string
	GatewayName string // default HostGatewayName
}

func (t HostTarget) gateway() string {
	if t.GatewayName != "" {
		return t.GatewayName
	}
	return HostGatewayName
}

func (t HostTarget) addr(port int) string { return net.JoinHostPort(t.gateway(), strconv.Itoa(port)) }

// hostProbeContainer returns the run's probe container that can name the
// host (ExtraHosts gateway:host-gateway), starting it on first use.
func (s *Session) hostProbeContainer(ctx context.Context, gateway string) (string, error) {
	s.mu.Lock()
	id := s.hostProbes[gateway]
	s.mu.Unlock()
	if id != "" {
		return id, nil
	}
	nw, err := s.Network(ctx)
	if err != nil {
		return "", err
	}
	id, err = s.Driver.Run(ctx, ContainerSpec{
		Name:       fmt.Sprintf("tollgate-%s-hostprobe-%d", s.RunID, len(s.hostProbes)+1),
		Image:      s.Images.Probe,
		Cmd:        []string{"idle"},
		Labels:     s.Labels("probe"),
		ExtraHosts: []string{gateway + ":host-gateway"},
		Network:    nw.Name,
	})
	if err != nil {
		return "", fmt.Errorf("starting the probe container: %w", err)
	}
	s.mu.Lock()
	if s.hostProbes == nil {
		s.hostProbes = map[string]string{}
	}
	s.hostProbes[gateway] = id
	s.mu.Unlock()
	return id, nil
}

// hostCanary checks the harness can see what it is about to judge: a
// listener of its own on 0.0.0.0 must be reachable from the probe container
// through the gateway name. Without that, "unreachable" proves nothing.
func (s *Session) hostCanary(ctx context.Context, probeID string, t HostTarget) error {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return fmt.Errorf("canary listener: %w", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	r, err := ProbeDial(ctx, s.Driver, probeID, t.addr(port), 2*time.Second)
	if err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("a container cannot reach a host listener on 0.0.0.0:%d through %s (%s): check host-gateway and the host firewall", port, t.gateway(), r.Outcome())
	}
	return nil
}

// CheckHostProxyReachable is NET-001: from a container, through
// host-gateway, the proxy port answers 401 without a token and 200 with it.
func (s *Session) CheckHostProxyReachable(ctx context.Context, t HostTarget) Verdict {
	c := newCheck(ReqHostProxyReachable, s.Driver.Name(), fmt.Sprintf(
		"from a container via %s: GET %s without token -> 401, GET %s with token -> 200",
		t.addr(t.ProxyPort), protectedPath, tagsPath))
	probeID, err := s.hostProbeContainer(ctx, t.gateway())
	if err != nil {
		return c.harness("%v", err)
	}
	if err := s.hostCanary(ctx, probeID, t); err != nil {
		return c.harness("%v", err)
	}
	base := "http://" + t.addr(t.ProxyPort)
	r, err := ProbeHTTP(ctx, s.Driver, probeID, HTTPProbe{URL: base + protectedPath, Timeout: 3 * time.Second})
	if err != nil {
		return c.harness("%v", err)
	}
	c.observe(r.Status == 401, "without token: %s", r.Outcome())
	r, err = ProbeHTTP(ctx, s.Driver, probeID, HTTPProbe{URL: base + tagsPath, Token: t.Token, Timeout: 3 * time.Second})
	if err != nil {
		return c.harness("%v", err)
	}
	c.observe(r.Status == 200, "with token: %s", r.Outcome())
	return c.done()
}

// CheckHostBackendIsolated is NET-002 (CWE-668): from a container, through
// host-gateway, the backend port does not accept connections. It fires when
// the backend listens beyond loopback (0.0.0.0).
func (s *Session) CheckHostBackendIsolated(ctx context.Context, t HostTarget) Verdict {
	c := newCheck(ReqHostBackendIsolated, s.Driver.Name(), fmt.Sprintf(
		"from a container: connecting to %s fails (the backend listens on loopback only)", t.addr(t.BackendPort)))
	probeID, err := s.hostProbeContainer(ctx, t.gateway())
	if err != nil {
		return c.harness("%v", err)
	}
	if err := s.hostCanary(ctx, probeID, t); err != nil {
		return c.harness("%v", err)
	}
	r, err := ProbeDial(ctx, s.Driver, probeID, t.addr(t.BackendPort), 2*time.Second)
	if err != nil {
		return c.harness("%v", err)
	}
	if r.OK {
		c.observe(false, "connected to the backend port: Ollama is exposed to containers without authentication (CWE-668)")
	} else {
		c.observe(true, "backend port: %s", r.Outcome())
	}
	return c.done()
}

// HostChecks runs NET-001 and NET-002 against a host-process proxy.
func (s *Session) HostChecks(ctx context.Context, t HostTarget) []Verdict {
	return []Verdict{s.CheckHostProxyReachable(ctx, t), s.CheckHostBackendIsolated(ctx, t)}
}

// WaitListening waits until addr accepts TCP connections on the host.
func WaitListening(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, within, err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreePort returns a TCP port free on all interfaces right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
