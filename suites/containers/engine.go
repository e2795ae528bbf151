package containers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ErrEngine marks every error meaning "no usable container engine": the
// caller reports it in one line and exits 2 (a harness error), never a pass.
var ErrEngine = errors.New("container engine unavailable")

// MinAPIVersion is the oldest engine API the drivers are used with.
const MinAPIVersion = "1.40"

type engineErr struct{ msg string }

func (e *engineErr) Error() string { return e.msg }
func (e *engineErr) Unwrap() error { return ErrEngine }

// engineError wraps err as an ErrEngine with a one-line message.
func engineError(err error) error {
	if err == nil || errors.Is(err, ErrEngine) {
		return err
	}
	msg := "container engine unavailable: " + oneLine(err.Error())
	if !strings.Contains(strings.ToLower(msg), "daemon") {
		msg += " (is the Docker daemon running, and DOCKER_HOST right?)"
	}
	return &engineErr{msg: msg}
}

// CheckEngine verifies a Docker engine answers and is recent enough. A nil
// error means the container suites can run; otherwise the error (wrapping
// ErrEngine) is one line fit for the terminal.
//
// The engine is the one DOCKER_HOST names (default unix:///var/run/docker.sock),
// asked directly first: testcontainers-go would otherwise fall back silently
// to another socket when DOCKER_HOST is wrong, and dockertest would not.
func CheckEngine(ctx context.Context) error {
	prepareEnv()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	plain, err := client.New(client.FromEnv)
	if err != nil {
		return engineError(err)
	}
	defer plain.Close()
	ping, err := plain.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		return engineError(fmt.Errorf("no Docker engine answers at %s: %w", plain.DaemonHost(), err))
	}
	if ping.OSType != "" && ping.OSType != "linux" {
		return engineError(fmt.Errorf("engine runs %s containers; Tollgate's images are linux", ping.OSType))
	}
	if ping.APIVersion != "" && versionLess(ping.APIVersion, MinAPIVersion) {
		return engineError(fmt.Errorf("engine API %s is older than %s", ping.APIVersion, MinAPIVersion))
	}
	tc, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return engineError(fmt.Errorf("testcontainers-go: %w", err))
	}
	return tc.Close()
}

// versionLess compares dotted API versions ("1.41" < "1.9" is false).
func versionLess(a, b string) bool {
	var a1, a2, b1, b2 int
	fmt.Sscanf(a, "%d.%d", &a1, &a2)
	fmt.Sscanf(b, "%d.%d", &b1, &b2)
	if a1 != b1 {
		return a1 < b1
	}
	return a2 < b2
}
