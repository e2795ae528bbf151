package doctor

import (
	"context"
	"fmt"

	"github.com/tollgate-dev/tollgate/suites/containers"
)

// ContainerChecks probes from a container (image tollgate/probe:dev, through
// host-gateway, as NemoClaw's sandbox does) that the proxy port answers and
// the backend port does not accept connections. It never pulls: without an
// engine or the image it reports SKIP with the reason.
func ContainerChecks(ctx context.Context, proxyPort, backendPort int, token string) []Check {
	skip := func(why string) []Check {
		return []Check{{ID: "container", Verdict: Skip, Detail: why, Fix: "start Docker and build the images: make images"}}
	}
	s, err := containers.NewSession(ctx, containers.SessionOptions{HandleSignals: true})
	if err != nil {
		return skip(fmt.Sprintf("no container engine: %v", err))
	}
	defer func() { _, _ = s.Close(context.WithoutCancel(ctx)) }()
	if err := s.RequireImages(ctx, s.Images.Probe); err != nil {
		return skip(fmt.Sprintf("probe image %s: %v", s.Images.Probe, err))
	}
	var out []Check
	for _, v := range s.HostChecks(ctx, containers.HostTarget{ProxyPort: proxyPort, BackendPort: backendPort, Token: token}) {
		c := Check{ID: "container-" + v.ID, Detail: v.Actual}
		switch {
		case v.Skipped != "":
			c.Verdict, c.Detail = Skip, v.Skipped
		case v.HarnessError != "":
			c.Verdict, c.Detail = Skip, "could not judge: "+v.HarnessError
		case v.Pass:
			c.Verdict = Pass
		default:
			c.Verdict = Fail
			c.Fix = "expected: " + v.Expected + "; the proxy must listen on 0.0.0.0 and Ollama on 127.0.0.1 only"
		}
		out = append(out, c)
	}
	return out
}
