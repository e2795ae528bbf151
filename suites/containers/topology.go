package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"
)

// Launch-contract ports inside the container topology.
const (
	ContainerProxyPort   = 11435
	ContainerBackendPort = 11434
)

// DefaultTokenFilePath is where the reference image keeps its token file;
// the token volume is mounted on its directory.
const DefaultTokenFilePath = "/var/lib/ollama-auth-proxy/token"

// StreamModel is a model the mock serves; NET-005 streams a generation from it.
const StreamModel = "llama3.2:1b"

// ContainerTarget is a proxy image run in the container topology: the mock
// container listens on 127.0.0.1:11434 in its network namespace, the proxy
// container joins that namespace (NetworkMode container:<mock>) and listens
// on 0.0.0.0:11435, and a probe container on the run's network looks at both.
type ContainerTarget struct {
	Image         string            // the proxy image; "" = the session's Images.Proxy
	Token         string            // passed as OLLAMA_PROXY_TOKEN unless TokenFile
	TokenFile     bool              // use OLLAMA_PROXY_TOKEN_FILE on a named volume (capability token-file)
	TokenFilePath string            // default DefaultTokenFilePath
	Env           map[string]string // extra environment for the proxy
	Ready         time.Duration     // how long the proxy may take to listen; default 15s
}

func (t ContainerTarget) tokenFilePath() string {
	if t.TokenFilePath != "" {
		return t.TokenFilePath
	}
	return DefaultTokenFilePath
}

// ContainerTopology is a running container topology.
type ContainerTopology struct {
	s      *Session
	Target ContainerTarget
	ID     string // LabelTopology value
	Net    Network
	Volume string // token volume, when Target.TokenFile

	MockID, ProxyID, ProbeID string
	MockIP                   string // the shared netns's address on Net

	token string
}

// StartContainerTopology starts mock, proxy and probe containers and waits
// until the proxy listens. With a token file it reads the token the proxy
// persisted through the engine's archive API.
func (s *Session) StartContainerTopology(ctx context.Context, t ContainerTarget) (_ *ContainerTopology, err error) {
	if t.Image == "" {
		t.Image = s.Images.Proxy
	}
	if !t.TokenFile && t.Token == "" {
		return nil, fmt.Errorf("container topology: a token, or TokenFile, is required")
	}
	if t.Ready <= 0 {
		t.Ready = 15 * time.Second
	}
	if err := s.RequireImages(ctx, t.Image, s.Images.Mock, s.Images.Probe); err != nil {
		return nil, err
	}
	nw, err := s.Network(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.topoSeq++
	topo := &ContainerTopology{s: s, Target: t, Net: nw, ID: fmt.Sprintf("%s-%d", s.RunID, s.topoSeq), token: t.Token}
	s.mu.Unlock()
	defer func() {
		if err != nil {
			_ = topo.Close(context.WithoutCancel(ctx))
		}
	}()
	labels := func(role string) map[string]string {
		l := s.Labels(role)
		l[LabelTopology] = topo.ID
		return l
	}
	name := func(role string) string { return "tollgate-" + topo.ID + "-" + role }

	topo.MockID, err = s.Driver.Run(ctx, ContainerSpec{
		Name:    name("mock"),
		Image:   s.Images.Mock,
		Cmd:     []string{"--listen", "127.0.0.1:" + strconv.Itoa(ContainerBackendPort)},
		Labels:  labels("mock"),
		Network: nw.Name,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the mock container: %w", err)
	}
	env := launchEnv(t.Env, map[string]string{
		"OLLAMA_PROXY_PORT":   strconv.Itoa(ContainerProxyPort),
		"OLLAMA_BACKEND_PORT": strconv.Itoa(ContainerBackendPort),
	})
	var mounts []Mount
	if t.TokenFile {
		topo.Volume, err = s.Driver.CreateVolume(ctx, name("token"), labels("token"))
		if err != nil {
			return nil, fmt.Errorf("creating the token volume: %w", err)
		}
		mounts = append(mounts, Mount{Volume: topo.Volume, Target: path.Dir(t.tokenFilePath())})
		env["OLLAMA_PROXY_TOKEN_FILE"] = t.tokenFilePath()
	} else {
		env["OLLAMA_PROXY_TOKEN"] = t.Token
	}
	topo.ProxyID, err = s.Driver.Run(ctx, ContainerSpec{
		Name:        name("proxy"),
		Image:       t.Image,
		Env:         env,
		Labels:      labels("proxy"),
		NetworkMode: "container:" + topo.MockID,
		Mounts:      mounts,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the proxy container: %w", err)
	}
	topo.ProbeID, err = s.Driver.Run(ctx, ContainerSpec{
		Name:    name("probe"),
		Image:   s.Images.Probe,
		Cmd:     []string{"idle"},
		Labels:  labels("probe"),
		Network: nw.Name,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the probe container: %w", err)
	}
	mi, err := s.Driver.Inspect(ctx, topo.MockID)
	if err != nil {
		return nil, err
	}
	if topo.MockIP = mi.IP(nw.Name); topo.MockIP == "" {
		return nil, fmt.Errorf("the mock container has no address on network %s", nw.Name)
	}
	if err := topo.waitProxy(ctx); err != nil {
		return nil, err
	}
	if t.TokenFile {
		if topo.token, err = topo.readToken(ctx); err != nil {
			return nil, err
		}
	}
	return topo, nil
}

// ProxyAddr is the proxy's address as the peer probe reaches it.
func (t *ContainerTopology) ProxyAddr() string {
	return net.JoinHostPort(t.MockIP, strconv.Itoa(ContainerProxyPort))
}

// BackendAddr is the backend port on the shared namespace's address.
func (t *ContainerTopology) BackendAddr() string {
	return net.JoinHostPort(t.MockIP, strconv.Itoa(ContainerBackendPort))
}

// ErrProxyDown marks a proxy that did not come up in the container topology:
// a failure of the proxy under test, not of the harness.
var ErrProxyDown = errors.New("the proxy did not come up")

// waitProxy waits until the proxy port accepts connections from the peer,
// failing early (with the proxy's last words) if the proxy container exits.
func (t *ContainerTopology) waitProxy(ctx context.Context) error {
	alive := func() error {
		ci, err := t.s.Driver.Inspect(ctx, t.ProxyID)
		if err != nil {
			return err
		}
		if !ci.Running {
			_, stderr, _ := t.s.Driver.Logs(ctx, t.ProxyID)
			return fmt.Errorf("%w: its container exited (%s, code %d): %s", ErrProxyDown, ci.Status, ci.ExitCode, lastLine(stderr))
		}
		return nil
	}
	err := waitDial(ctx, t.s.Driver, t.ProbeID, t.ProxyAddr(), t.Target.Ready, alive)
	if err != nil && !errors.Is(err, ErrProxyDown) && ctx.Err() == nil && strings.Contains(err.Error(), "not reachable after") {
		err = fmt.Errorf("%w: %v", ErrProxyDown, err)
	}
	return err
}

// readToken reads the persisted token out of the proxy container.
func (t *ContainerTopology) readToken(ctx context.Context) (string, error) {
	p := t.Target.tokenFilePath()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, b, err := t.s.Driver.ReadFile(ctx, t.ProxyID, p, 4096)
		if err == nil {
			if tok := strings.TrimSpace(string(b)); tok != "" {
				return tok, nil
			}
			err = fmt.Errorf("%s is empty", p)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("reading the token file through the engine: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CheckPeerReachability is NET-003: from a peer container on the run's
// network, the proxy's 11435 answers (401 without token, 200 with it) and
// the backend's 11434 does not accept connections.
func (t *ContainerTopology) CheckPeerReachability(ctx context.Context) Verdict {
	c := newCheck(ReqPeerReachability, t.s.Driver.Name(), fmt.Sprintf(
		"from a peer container: %s GET %s without token -> 401, GET %s with token -> 200; %s refuses connections",
		t.ProxyAddr(), protectedPath, tagsPath, t.BackendAddr()))
	base := "http://" + t.ProxyAddr()
	r, err := ProbeHTTP(ctx, t.s.Driver, t.ProbeID, HTTPProbe{URL: base + protectedPath, Timeout: 3 * time.Second})
	if err != nil {
		return c.harness("%v", err)
	}
	c.observe(r.Status == 401, "11435 without token: %s", r.Outcome())
	r, err = ProbeHTTP(ctx, t.s.Driver, t.ProbeID, HTTPProbe{URL: base + tagsPath, Token: t.token, Timeout: 3 * time.Second})
	if err != nil {
		return c.harness("%v", err)
	}
	c.observe(r.Status == 200, "11435 with token: %s", r.Outcome())
	r, err = ProbeDial(ctx, t.s.Driver, t.ProbeID, t.BackendAddr(), 2*time.Second)
	if err != nil {
		return c.harness("%v", err)
	}
	if r.OK {
		c.observe(false, "11434: connected (the backend is reachable from other containers)")
	} else {
		c.observe(true, "11434: %s", r.Outcome())
	}
	return c.done()
}

// CheckTokenFileMode is NET-004: the token file in the volume has mode 0600
// as the engine's archive API reports it, confirmed by tollgate-probe's
// lstat from a separate container mounting the same volume.
func (t *ContainerTopology) CheckTokenFileMode(ctx context.Context) Verdict {
	p := t.Target.tokenFilePath()
	c := newCheck(ReqTokenFileMode, t.s.Driver.Name(), fmt.Sprintf("%s in the token volume: a regular file with mode 0600, seen through Docker", p))
	if !t.Target.TokenFile {
		return c.skip("the target does not declare the token-file capability")
	}
	fi, _, err := t.s.Driver.ReadFile(ctx, t.ProxyID, p, 0)
	if err != nil {
		return c.harness("reading %s through the engine: %v", p, err)
	}
	c.observe(fi.Type == "file" && fi.Mode == 0o600, "engine archive: %s mode %s uid %d gid %d", fi.Type, fi.ModeString(), fi.UID, fi.GID)

	dir := path.Dir(p)
	res, err := RunToCompletion(ctx, t.s.Driver, ContainerSpec{
		Name:   "tollgate-" + t.ID + "-stat",
		Image:  t.s.Images.Probe,
		Cmd:    []string{"stat", "--path", p},
		Labels: t.s.Labels("probe"),
		Mounts: []Mount{{Volume: t.Volume, Target: dir, ReadOnly: true}},
	})
	if err != nil {
		return c.harness("stat probe: %v", err)
	}
	r, err := parseProbe(res.Stdout)
	if err != nil {
		return c.harness("stat probe: %v", err)
	}
	c.observe(r.OK && r.Type == "file" && r.Mode == "0600", "volume lstat: %s", r.Outcome())
	return c.done()
}

// CheckRestart is NET-005: after the proxy container is stopped its port is
// closed; once started again the token persisted in the volume (or the same
// environment token) still works and a streamed /api/generate completes.
func (t *ContainerTopology) CheckRestart(ctx context.Context) Verdict {
	c := newCheck(ReqRestartInContainers, t.s.Driver.Name(),
		"after stop: 11435 refuses connections; after start: the same token, GET /api/tags with it -> 200, a streamed /api/generate ends with done:true")
	if err := t.s.Driver.Stop(ctx, t.ProxyID, 5*time.Second); err != nil {
		return c.harness("stopping the proxy container: %v", err)
	}
	ci, err := t.s.Driver.Inspect(ctx, t.ProxyID)
	if err != nil {
		return c.harness("%v", err)
	}
	if ci.Running {
		return c.harness("the proxy container is still running after stop")
	}
	r, err := ProbeDial(ctx, t.s.Driver, t.ProbeID, t.ProxyAddr(), 2*time.Second)
	if err != nil {
		return c.harness("%v", err)
	}
	c.observe(!r.OK, "stopped: 11435 %s", r.Outcome())

	if err := t.s.Driver.Start(ctx, t.ProxyID); err != nil {
		return c.harness("starting the proxy container again: %v", err)
	}
	if err := t.waitProxy(ctx); err != nil {
		c.observe(false, "restarted: %v", err)
		return c.done()
	}
	if t.Target.TokenFile {
		tok, err := t.readToken(ctx)
		if err != nil {
			c.observe(false, "restarted: %v", err)
			return c.done()
		}
		c.observe(tok == t.token, "token file %s", map[bool]string{true: "unchanged", false: "rewritten with a new token"}[tok == t.token])
	}
	base := "http://" + t.ProxyAddr()
	r, err = ProbeHTTP(ctx, t.s.Driver, t.ProbeID, HTTPProbe{URL: base + tagsPath, Token: t.token, Timeout: 3 * time.Second})
	if err != nil {
		return c.harness("%v", err)
	}
	c.observe(r.Status == 200, "old token: %s", r.Outcome())
	r, err = ProbeHTTP(ctx, t.s.Driver, t.ProbeID, HTTPProbe{
		URL: base + "/api/generate", Method: "POST", Token: t.token, Timeout: 20 * time.Second,
		Data: `{"model":"` + StreamModel + `","prompt":"Why is the sky blue?","stream":true}`,
	})
	if err != nil {
		return c.harness("%v", err)
	}
	streamed := r.Status == 200 && r.OK && r.Lines >= 2 && r.Done
	c.observe(streamed, "stream: %s, %d NDJSON lines, done=%t", r.Outcome(), r.Lines, r.Done)
	return c.done()
}

// ContainerChecks runs NET-003, NET-004 and NET-005 (in that order: the
// last restarts the proxy).
func (t *ContainerTopology) ContainerChecks(ctx context.Context) []Verdict {
	return []Verdict{t.CheckPeerReachability(ctx), t.CheckTokenFileMode(ctx), t.CheckRestart(ctx)}
}

// Close removes the topology's containers and volume.
func (t *ContainerTopology) Close(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := t.s.Driver.RemoveLabelled(rctx, LabelTopology+"="+t.ID)
	return err
}

// RunContainerChecks starts a container topology for target, runs its checks
// and removes it. A topology that cannot start gives harness errors.
func (s *Session) RunContainerChecks(ctx context.Context, target ContainerTarget) []Verdict {
	topo, err := s.StartContainerTopology(ctx, target)
	if err != nil {
		var out []Verdict
		for _, id := range []string{ReqPeerReachability, ReqTokenFileMode, ReqRestartInContainers} {
			c := newCheck(id, s.Driver.Name(), "the proxy container listens on 11435 in the mock's network namespace")
			if errors.Is(err, ErrProxyDown) {
				c.observe(false, "%s", oneLine(err.Error()))
				out = append(out, c.done())
			} else {
				out = append(out, c.harness("%v", err))
			}
		}
		return out
	}
	defer topo.Close(context.WithoutCancel(ctx))
	return topo.ContainerChecks(ctx)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return oneLine(lines[len(lines)-1])
}
