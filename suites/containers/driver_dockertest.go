package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"
)

// dtDriver is the Driver on ory/dockertest: containers go through
// Pool.RunWithOptions and Resource, the rest through the pool's client.
type dtDriver struct {
	pool *dockertest.Pool

	mu   sync.Mutex
	ress map[string]*dockertest.Resource
}

func newDTDriver(ctx context.Context) (*dtDriver, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, engineError(err)
	}
	if err := pool.Client.PingWithContext(ctx); err != nil {
		return nil, engineError(err)
	}
	return &dtDriver{pool: pool, ress: map[string]*dockertest.Resource{}}, nil
}

func (d *dtDriver) Name() string { return Dockertest }

func (d *dtDriver) Ping(ctx context.Context) error { return d.pool.Client.PingWithContext(ctx) }

func (d *dtDriver) ImageLabels(_ context.Context, ref string) (map[string]string, bool, error) {
	img, err := d.pool.Client.InspectImage(ref)
	if err != nil {
		if errors.Is(err, dc.ErrNoSuchImage) {
			return nil, false, nil
		}
		return nil, false, err
	}
	labels := map[string]string{}
	if img.Config != nil {
		for k, v := range img.Config.Labels {
			labels[k] = v
		}
	}
	return labels, true, nil
}

func (d *dtDriver) CreateNetwork(ctx context.Context, name string, labels map[string]string) (Network, error) {
	nw, err := d.pool.CreateNetwork(name, func(o *dc.CreateNetworkOptions) {
		o.Driver = "bridge"
		o.Labels = labels
		o.Context = ctx
	})
	if err != nil {
		return Network{}, err
	}
	return Network{ID: nw.Network.ID, Name: nw.Network.Name}, nil
}

func (d *dtDriver) CreateVolume(ctx context.Context, name string, labels map[string]string) (string, error) {
	v, err := d.pool.Client.CreateVolume(dc.CreateVolumeOptions{Name: name, Labels: labels, Context: ctx})
	if err != nil {
		return "", err
	}
	return v.Name, nil
}

func (d *dtDriver) Run(ctx context.Context, spec ContainerSpec) (string, error) {
	if _, ok, err := d.ImageLabels(ctx, spec.Image); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("%s: %w", spec.Image, ErrImageMissing)
	}
	repo, tag := splitRef(spec.Image)
	env := make([]string, 0, len(spec.Env))
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	opts := &dockertest.RunOptions{
		Name:       spec.Name,
		Repository: repo,
		Tag:        tag,
		Env:        env,
		Cmd:        spec.Cmd,
		Labels:     spec.Labels,
		ExtraHosts: spec.ExtraHosts,
		User:       spec.User,
	}
	if spec.Network != "" && spec.NetworkMode == "" {
		opts.NetworkID = spec.Network
	}
	res, err := d.pool.RunWithOptions(opts, func(hc *dc.HostConfig) {
		// dockertest publishes every exposed port by default; Tollgate never
		// publishes (and a netns joiner may not).
		hc.PublishAllPorts = false
		hc.PortBindings = nil
		hc.Binds = append(hc.Binds, spec.Binds...)
		if spec.NetworkMode != "" {
			hc.NetworkMode = spec.NetworkMode
		}
		for _, m := range spec.Mounts {
			hc.Mounts = append(hc.Mounts, dc.HostMount{Type: "volume", Source: m.Volume, Target: m.Target, ReadOnly: m.ReadOnly})
		}
	})
	if err != nil {
		return "", fmt.Errorf("run %s: %w", spec.Image, err)
	}
	d.mu.Lock()
	d.ress[res.Container.ID] = res
	d.mu.Unlock()
	return res.Container.ID, nil
}

func (d *dtDriver) resource(id string) (*dockertest.Resource, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.ress[id]
	if !ok {
		return nil, fmt.Errorf("container %.12s was not started by this driver", id)
	}
	return r, nil
}

func (d *dtDriver) Exec(ctx context.Context, id string, cmd []string) (ExecResult, error) {
	r, err := d.resource(id)
	if err != nil {
		return ExecResult{}, err
	}
	var stdout, stderr bytes.Buffer
	type out struct {
		code int
		err  error
	}
	done := make(chan out, 1)
	go func() {
		code, err := r.Exec(cmd, dockertest.ExecOptions{StdOut: &stdout, StdErr: &stderr})
		done <- out{code, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return ExecResult{}, o.err
		}
		return ExecResult{ExitCode: o.code, Stdout: stdout.String(), Stderr: stderr.String()}, nil
	case <-ctx.Done():
		return ExecResult{}, ctx.Err()
	}
}

func (d *dtDriver) Wait(ctx context.Context, id string) (int, error) {
	return d.pool.Client.WaitContainerWithContext(id, ctx)
}

func (d *dtDriver) Logs(ctx context.Context, id string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := d.pool.Client.Logs(dc.LogsOptions{
		Context: ctx, Container: id,
		OutputStream: &stdout, ErrorStream: &stderr,
		Stdout: true, Stderr: true,
	})
	return stdout.String(), stderr.String(), err
}

// Stop sends SIGTERM itself: dockertest creates containers with StopSignal
// SIGWINCH, which a proxy ignores, so the engine's stop would always wait
// for the timeout and kill.
func (d *dtDriver) Kill(ctx context.Context, id string) error {
	err := d.pool.Client.KillContainer(dc.KillContainerOptions{ID: id, Signal: dc.SIGKILL, Context: ctx})
	var notRunning *dc.ContainerNotRunning
	if errors.As(err, &notRunning) {
		return nil
	}
	return err
}

func (d *dtDriver) Stop(ctx context.Context, id string, timeout time.Duration) error {
	if err := d.pool.Client.KillContainer(dc.KillContainerOptions{ID: id, Signal: dc.SIGTERM, Context: ctx}); err != nil {
		var notRunning *dc.ContainerNotRunning
		if errors.As(err, &notRunning) {
			return nil
		}
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := d.pool.Client.WaitContainerWithContext(id, wctx); err == nil {
		return nil
	}
	return d.pool.Client.StopContainerWithContext(id, 0, ctx)
}

func (d *dtDriver) Start(ctx context.Context, id string) error {
	return d.pool.Client.StartContainerWithContext(id, nil, ctx)
}

func (d *dtDriver) Inspect(ctx context.Context, id string) (ContainerInfo, error) {
	c, err := d.pool.Client.InspectContainerWithContext(id, ctx)
	if err != nil {
		return ContainerInfo{}, err
	}
	ci := ContainerInfo{
		ID: c.ID, Name: trimSlash(c.Name), Image: c.Image,
		Running: c.State.Running, Status: c.State.Status, ExitCode: c.State.ExitCode,
		IPs: map[string]string{},
	}
	if c.Config != nil {
		ci.Labels = c.Config.Labels
		ci.User = c.Config.User
		if c.Config.Image != "" {
			ci.Image = c.Config.Image
		}
	}
	if c.NetworkSettings != nil {
		for name, ep := range c.NetworkSettings.Networks {
			if ep.IPAddress != "" {
				ci.IPs[name] = ep.IPAddress
			}
		}
	}
	return ci, nil
}

func (d *dtDriver) ReadFile(ctx context.Context, id, path string, limit int64) (FileInfo, []byte, error) {
	pr, pw := io.Pipe()
	go func() {
		err := d.pool.Client.DownloadFromContainer(id, dc.DownloadFromContainerOptions{
			Path: path, OutputStream: pw, Context: ctx, InactivityTimeout: 10 * time.Second,
		})
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	fi, b, err := readTarFile(pr, path, limit)
	// Drain so the download goroutine ends.
	_, _ = io.Copy(io.Discard, pr)
	return fi, b, err
}

func (d *dtDriver) Remove(ctx context.Context, id string) error {
	d.mu.Lock()
	r := d.ress[id]
	delete(d.ress, id)
	d.mu.Unlock()
	if r != nil {
		return ignoreNoSuch(d.pool.Purge(r))
	}
	return ignoreNoSuch(d.pool.Client.RemoveContainer(dc.RemoveContainerOptions{ID: id, Force: true, RemoveVolumes: true, Context: ctx}))
}

// ignoreNoSuch treats a container that is gone, or whose removal is already
// in progress (another cleanup), as removed.
func ignoreNoSuch(err error) error {
	var (
		noSuch *dc.NoSuchContainer
		apiErr *dc.Error
	)
	if errors.As(err, &noSuch) || (errors.As(err, &apiErr) && apiErr.Status == 409) {
		return nil
	}
	return err
}

func (d *dtDriver) RemoveLabelled(ctx context.Context, selector string) (Removed, error) {
	var (
		rm   Removed
		errs []error
	)
	filter := map[string][]string{"label": {selector}}
	list, err := d.pool.Client.ListContainers(dc.ListContainersOptions{All: true, Filters: filter, Context: ctx})
	if err != nil {
		return rm, err
	}
	// Containers that join another's network namespace go first.
	var ids []string
	for _, c := range list {
		if ci, err := d.pool.Client.InspectContainerWithContext(c.ID, ctx); err == nil && ci.HostConfig != nil && isNetnsJoiner(ci.HostConfig.NetworkMode) {
			ids = append([]string{c.ID}, ids...)
		} else {
			ids = append(ids, c.ID)
		}
	}
	for _, id := range ids {
		d.mu.Lock()
		delete(d.ress, id)
		d.mu.Unlock()
		err := d.pool.Client.RemoveContainer(dc.RemoveContainerOptions{ID: id, Force: true, RemoveVolumes: true, Context: ctx})
		if err = ignoreNoSuch(err); err != nil {
			errs = append(errs, fmt.Errorf("container %.12s: %w", id, err))
			continue
		}
		rm.Containers++
	}
	key, value := parseSelector(selector)
	nets, err := d.pool.Client.FilteredListNetworks(dc.NetworkFilterOpts{"label": {selector: true}})
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range nets {
		if v, ok := n.Labels[key]; !ok || (value != "" && v != value) {
			continue
		}
		if err := d.pool.Client.RemoveNetwork(n.ID); err != nil {
			var noSuch *dc.NoSuchNetwork
			if !errors.As(err, &noSuch) {
				errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
				continue
			}
		}
		rm.Networks++
	}
	vols, err := d.pool.Client.ListVolumes(dc.ListVolumesOptions{Filters: filter, Context: ctx})
	if err != nil {
		errs = append(errs, err)
	}
	for _, v := range vols {
		if err := d.pool.Client.RemoveVolumeWithOptions(dc.RemoveVolumeOptions{Name: v.Name, Force: true, Context: ctx}); err != nil && !errors.Is(err, dc.ErrNoSuchVolume) {
			errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
			continue
		}
		rm.Volumes++
	}
	return rm, errors.Join(errs...)
}

func (d *dtDriver) Close() error { return nil }

func trimSlash(name string) string { return strings.TrimPrefix(name, "/") }
