package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Driver is the slice of a container engine's API the topologies need. It is
// implemented twice, on testcontainers-go ("testcontainers", the default) and
// on ory/dockertest ("dockertest"); the topology logic is written once on top.
//
// Every method takes IDs the engine returned (or names, for volumes). No
// method ever pulls an image: Run on an image that is not present locally
// fails with ErrImageMissing.
type Driver interface {
	// Name is the driver's registered name.
	Name() string
	// Ping checks the engine answers.
	Ping(ctx context.Context) error
	// ImageLabels returns the labels of a local image; ok is false when the
	// image is not present (it is never pulled).
	ImageLabels(ctx context.Context, ref string) (labels map[string]string, ok bool, err error)
	// CreateNetwork creates a bridge network. name is a hint: a driver may
	// choose its own (testcontainers-go names networks by UUID).
	CreateNetwork(ctx context.Context, name string, labels map[string]string) (Network, error)
	// CreateVolume creates a named volume and returns its name.
	CreateVolume(ctx context.Context, name string, labels map[string]string) (string, error)
	// Run creates and starts a container, detached, and returns its ID.
	Run(ctx context.Context, spec ContainerSpec) (string, error)
	// Exec runs cmd in a running container and collects its output.
	Exec(ctx context.Context, id string, cmd []string) (ExecResult, error)
	// Wait blocks until the container is not running and returns its exit code.
	Wait(ctx context.Context, id string) (int, error)
	// Logs returns what the container wrote so far, demultiplexed.
	Logs(ctx context.Context, id string) (stdout, stderr string, err error)
	// Stop sends SIGTERM, then SIGKILL after timeout.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Kill sends SIGKILL: the process dies at once, without a chance to
	// drain (a container that is not running is not an error).
	Kill(ctx context.Context, id string) error
	// Start starts a stopped container again.
	Start(ctx context.Context, id string) error
	// Inspect returns the container's state and addresses.
	Inspect(ctx context.Context, id string) (ContainerInfo, error)
	// ReadFile reads one regular file (at most limit bytes) out of a
	// container, running or stopped, through the engine's archive API; the
	// FileInfo is the tar header's: mode, owner, size as the engine sees them.
	ReadFile(ctx context.Context, id, path string, limit int64) (FileInfo, []byte, error)
	// Remove force-removes a container (its anonymous volumes too).
	Remove(ctx context.Context, id string) error
	// RemoveLabelled force-removes every container, then network, then
	// volume carrying the label selector ("key" or "key=value").
	RemoveLabelled(ctx context.Context, selector string) (Removed, error)
	// Close releases the driver's connections; it removes nothing.
	Close() error
}

// ContainerSpec describes a container to run.
type ContainerSpec struct {
	Name        string            // optional container name
	Image       string            // local image reference; never pulled
	Cmd         []string          // arguments after the image's entrypoint
	Env         map[string]string // environment
	Labels      map[string]string // labels (the session adds tollgate.run)
	ExtraHosts  []string          // "name:ip" or "name:host-gateway"
	Network     string            // user network (name or ID) to join; "" = engine default
	NetworkMode string            // e.g. "container:<id>" to share a netns; excludes Network and published ports
	Mounts      []Mount           // named volumes
	Binds       []string          // host directories, "host-path:container-path"
	User        string            // "uid:gid"; "" = the image's
}

// Network is a network a driver created.
type Network struct {
	ID   string
	Name string
}

// Mount is a named volume mounted into a container.
type Mount struct {
	Volume   string
	Target   string
	ReadOnly bool
}

// ExecResult is the outcome of Driver.Exec.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// ContainerInfo is what Driver.Inspect reports.
type ContainerInfo struct {
	ID       string
	Name     string
	Image    string
	Running  bool
	Status   string // created, running, exited...
	ExitCode int
	IPs      map[string]string // network name -> IPv4 address
	Labels   map[string]string
	User     string
}

// IP returns the container's address on network, or on any network when
// network is empty or not found.
func (ci ContainerInfo) IP(network string) string {
	if ip := ci.IPs[network]; ip != "" {
		return ip
	}
	names := make([]string, 0, len(ci.IPs))
	for n := range ci.IPs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ci.IPs[n] != "" {
			return ci.IPs[n]
		}
	}
	return ""
}

// FileInfo describes a file as the engine's archive API sees it.
type FileInfo struct {
	Path string
	Mode os.FileMode // permission bits (and setuid/setgid/sticky)
	Type string      // file, dir, symlink, other
	UID  int
	GID  int
	Size int64
}

// ModeString is the octal permission string, e.g. "0600".
func (fi FileInfo) ModeString() string { return fmt.Sprintf("%04o", fi.Mode) }

// Removed counts what RemoveLabelled removed.
type Removed struct {
	Containers, Networks, Volumes int
}

func (r Removed) String() string {
	return fmt.Sprintf("%d containers, %d networks, %d volumes", r.Containers, r.Networks, r.Volumes)
}

// ErrImageMissing is returned by Run when the image is not present locally.
var ErrImageMissing = errors.New("image not present locally (Tollgate never pulls; run `make images`)")

// Driver names.
const (
	Testcontainers = "testcontainers"
	Dockertest     = "dockertest"
	DefaultDriver  = Testcontainers
)

// DriverNames lists the drivers NewDriver accepts.
func DriverNames() []string { return []string{Testcontainers, Dockertest} }

// NewDriver connects the named driver ("" = DefaultDriver) to the engine.
func NewDriver(ctx context.Context, name string) (Driver, error) {
	prepareEnv()
	switch name {
	case "", Testcontainers:
		return newTCDriver(ctx)
	case Dockertest:
		return newDTDriver(ctx)
	default:
		return nil, fmt.Errorf("unknown container driver %q (want %s)", name, strings.Join(DriverNames(), " or "))
	}
}

var envOnce sync.Once

// prepareEnv sets the testcontainers-go settings this machine needs, unless
// the user set them: Ryuk's image cannot be pulled (Tollgate cleans up by
// label itself), and the engine host must be dialled on loopback. It runs
// before the first testcontainers-go call, which reads them once.
func prepareEnv() {
	envOnce.Do(func() {
		for k, v := range map[string]string{
			"TESTCONTAINERS_RYUK_DISABLED": "true",
			"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
		} {
			if _, set := os.LookupEnv(k); !set {
				_ = os.Setenv(k, v)
			}
		}
		// testcontainers-go logs every engine connection and container to
		// stderr; Tollgate's reports are one line per requirement.
		if os.Getenv("TOLLGATE_CONTAINERS_DEBUG") == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
}

// RunToCompletion runs a container, waits for it to exit (bounded by ctx),
// collects its output and removes it.
func RunToCompletion(ctx context.Context, d Driver, spec ContainerSpec) (ExecResult, error) {
	id, err := d.Run(ctx, spec)
	if err != nil {
		return ExecResult{}, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = d.Remove(rctx, id)
	}()
	code, err := d.Wait(ctx, id)
	if err != nil {
		return ExecResult{}, fmt.Errorf("waiting for %s: %w", spec.Image, err)
	}
	stdout, stderr, err := d.Logs(ctx, id)
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{ExitCode: code, Stdout: stdout, Stderr: stderr}, nil
}

// parseSelector splits "key=value" or "key".
func parseSelector(sel string) (key, value string) {
	key, value, _ = strings.Cut(sel, "=")
	return key, value
}

// splitRef splits an image reference into repository and tag (default "latest").
func splitRef(ref string) (repo, tag string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// isNetnsJoiner reports whether a network mode joins another container's netns.
func isNetnsJoiner(mode string) bool { return strings.HasPrefix(mode, "container:") }

// oneLine flattens an error message for the one-line reports.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
