package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// tcDriver is the Driver on testcontainers-go: containers and networks are
// created through its API; what it does not cover (volumes, label listing,
// archive reads) goes through the engine client it wraps.
type tcDriver struct {
	cli *testcontainers.DockerClient

	mu   sync.Mutex
	ctrs map[string]*testcontainers.DockerContainer
}

func newTCDriver(ctx context.Context) (*tcDriver, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, engineError(err)
	}
	return &tcDriver{cli: cli, ctrs: map[string]*testcontainers.DockerContainer{}}, nil
}

// quiet keeps testcontainers-go's per-container chatter out of reports.
var quiet = testcontainers.WithLogger(tclog.NewNoopLogger())

func (d *tcDriver) Name() string { return Testcontainers }

func (d *tcDriver) Ping(ctx context.Context) error {
	_, err := d.cli.Ping(ctx, client.PingOptions{})
	return err
}

func (d *tcDriver) ImageLabels(ctx context.Context, ref string) (map[string]string, bool, error) {
	img, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
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

func (d *tcDriver) CreateNetwork(ctx context.Context, _ string, labels map[string]string) (Network, error) {
	nw, err := tcnetwork.New(ctx, tcnetwork.WithDriver("bridge"), tcnetwork.WithLabels(labels))
	if err != nil {
		return Network{}, err
	}
	return Network{ID: nw.ID, Name: nw.Name}, nil
}

func (d *tcDriver) CreateVolume(ctx context.Context, name string, labels map[string]string) (string, error) {
	res, err := d.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels})
	if err != nil {
		return "", err
	}
	return res.Volume.Name, nil
}

func (d *tcDriver) Run(ctx context.Context, spec ContainerSpec) (string, error) {
	if _, ok, err := d.ImageLabels(ctx, spec.Image); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("%s: %w", spec.Image, ErrImageMissing)
	}
	opts := []testcontainers.ContainerCustomizer{
		quiet,
		testcontainers.WithLabels(spec.Labels),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.ExtraHosts = append(hc.ExtraHosts, spec.ExtraHosts...)
			hc.Binds = append(hc.Binds, spec.Binds...)
			if spec.NetworkMode != "" {
				hc.NetworkMode = container.NetworkMode(spec.NetworkMode)
				hc.PortBindings = nil
				hc.PublishAllPorts = false
			}
		}),
	}
	if spec.Name != "" {
		opts = append(opts, testcontainers.WithName(spec.Name))
	}
	if len(spec.Cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(spec.Cmd...))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, testcontainers.WithEnv(spec.Env))
	}
	if spec.User != "" {
		user := spec.User
		opts = append(opts, testcontainers.WithConfigModifier(func(c *container.Config) { c.User = user }))
	}
	if spec.Network != "" && spec.NetworkMode == "" {
		opts = append(opts, tcnetwork.WithNetworkName(nil, spec.Network))
	}
	for _, m := range spec.Mounts {
		vm := testcontainers.VolumeMount(m.Volume, testcontainers.ContainerMountTarget(m.Target))
		vm.ReadOnly = m.ReadOnly
		opts = append(opts, testcontainers.WithMounts(vm))
	}
	c, err := testcontainers.Run(ctx, spec.Image, opts...)
	if err != nil {
		if c != nil {
			_ = d.forceRemove(context.WithoutCancel(ctx), c.GetContainerID())
		}
		return "", fmt.Errorf("run %s: %w", spec.Image, err)
	}
	d.mu.Lock()
	d.ctrs[c.GetContainerID()] = c
	d.mu.Unlock()
	return c.GetContainerID(), nil
}

func (d *tcDriver) container(id string) (*testcontainers.DockerContainer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.ctrs[id]
	if !ok {
		return nil, fmt.Errorf("container %.12s was not started by this driver", id)
	}
	return c, nil
}

func (d *tcDriver) Exec(ctx context.Context, id string, cmd []string) (ExecResult, error) {
	c, err := d.container(id)
	if err != nil {
		return ExecResult{}, err
	}
	code, r, err := c.Exec(ctx, cmd)
	if err != nil {
		return ExecResult{}, err
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, r); err != nil {
		return ExecResult{}, fmt.Errorf("exec output: %w", err)
	}
	return ExecResult{ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String()}, nil
}

func (d *tcDriver) Wait(ctx context.Context, id string) (int, error) {
	res := d.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-res.Result:
		if r.Error != nil && r.Error.Message != "" {
			return int(r.StatusCode), errors.New(r.Error.Message)
		}
		return int(r.StatusCode), nil
	case err := <-res.Error:
		return -1, err
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func (d *tcDriver) Logs(ctx context.Context, id string) (string, string, error) {
	rc, err := d.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", "", err
	}
	defer rc.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, rc); err != nil {
		return "", "", err
	}
	return stdout.String(), stderr.String(), nil
}

func (d *tcDriver) Stop(ctx context.Context, id string, timeout time.Duration) error {
	c, err := d.container(id)
	if err != nil {
		return err
	}
	return c.Stop(ctx, &timeout)
}

func (d *tcDriver) Kill(ctx context.Context, id string) error {
	_, err := d.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"})
	if cerrdefs.IsConflict(err) { // not running
		return nil
	}
	return err
}

func (d *tcDriver) Start(ctx context.Context, id string) error {
	c, err := d.container(id)
	if err != nil {
		return err
	}
	return c.Start(ctx)
}

func (d *tcDriver) Inspect(ctx context.Context, id string) (ContainerInfo, error) {
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return ContainerInfo{}, err
	}
	c := res.Container
	ci := ContainerInfo{ID: c.ID, Name: trimSlash(c.Name), Image: c.Image, IPs: map[string]string{}}
	if c.State != nil {
		ci.Running = c.State.Running
		ci.Status = string(c.State.Status)
		ci.ExitCode = c.State.ExitCode
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
			if ep != nil && ep.IPAddress.IsValid() {
				ci.IPs[name] = ep.IPAddress.String()
			}
		}
	}
	return ci, nil
}

func (d *tcDriver) ReadFile(ctx context.Context, id, path string, limit int64) (FileInfo, []byte, error) {
	res, err := d.cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return FileInfo{}, nil, err
	}
	defer res.Content.Close()
	return readTarFile(res.Content, path, limit)
}

func (d *tcDriver) Remove(ctx context.Context, id string) error {
	d.mu.Lock()
	c := d.ctrs[id]
	delete(d.ctrs, id)
	d.mu.Unlock()
	if c != nil {
		zero := time.Duration(0)
		return c.Terminate(ctx, testcontainers.StopTimeout(zero))
	}
	return d.forceRemove(ctx, id)
}

func (d *tcDriver) forceRemove(ctx context.Context, id string) error {
	_, err := d.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && (cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err)) {
		return nil // gone, or its removal already in progress (another cleanup)
	}
	return err
}

func (d *tcDriver) RemoveLabelled(ctx context.Context, selector string) (Removed, error) {
	var (
		rm   Removed
		errs []error
	)
	f := make(client.Filters).Add("label", selector)
	list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return rm, err
	}
	// Containers that join another's network namespace go first.
	var ids []string
	for _, c := range list.Items {
		if isNetnsJoiner(c.HostConfig.NetworkMode) {
			ids = append([]string{c.ID}, ids...)
		} else {
			ids = append(ids, c.ID)
		}
	}
	for _, id := range ids {
		d.mu.Lock()
		delete(d.ctrs, id)
		d.mu.Unlock()
		if err := d.forceRemove(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("container %.12s: %w", id, err))
			continue
		}
		rm.Containers++
	}
	nets, err := d.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range nets.Items {
		if _, err := d.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
			continue
		}
		rm.Networks++
	}
	vols, err := d.cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		errs = append(errs, err)
	}
	for _, v := range vols.Items {
		if _, err := d.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
			continue
		}
		rm.Volumes++
	}
	return rm, errors.Join(errs...)
}

func (d *tcDriver) Close() error { return d.cli.Close() }
