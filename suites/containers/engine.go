package containers

import (
	"context"
	"errors"
	"fmt"
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
	return &engineErr{msg: "container engine unavailable: " + oneLine(err.Error()) +
		" (is the Docker daemon running, and DOCKER_HOST right?)"}
}

// CheckEngine verifies a Docker engine answers and is recent enough. A nil
// error means the container suites can run; otherwise the error (wrapping
// ErrEngine) is one line fit for the terminal.
func CheckEngine(ctx context.Context) error {
	prepareEnv()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return engineError(err)
	}
	defer cli.Close()
	ping, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		return engineError(err)
	}
	if ping.OSType != "" && ping.OSType != "linux" {
		return engineError(fmt.Errorf("engine runs %s containers; Tollgate's images are linux", ping.OSType))
	}
	if ping.APIVersion != "" && versionLess(ping.APIVersion, MinAPIVersion) {
		return engineError(fmt.Errorf("engine API %s is older than %s", ping.APIVersion, MinAPIVersion))
	}
	return nil
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
