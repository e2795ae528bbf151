package catalog

// Network requirements: the proxy and its backend as containers see them.
// They need a container engine (capability Container); suites/containers
// implements them (host topology through host-gateway, and the container
// topology where the proxy shares the mock's network namespace).

var container = []Capability{Container}

func init() {
	declare("network",
		Requirement{ID: "NET-001", Level: Must, Needs: container, Text: "From a container, through host-gateway (`host.openshell.internal`), the proxy port MUST answer: 401 without a token and 200 with it."},
		Requirement{ID: "NET-002", Level: Must, Needs: container, Text: "From a container, the backend port MUST NOT accept connections: Ollama listening beyond loopback is exposed without authentication (CWE-668)."},
		Requirement{ID: "NET-003", Level: Must, Needs: container, Text: "With the proxy container sharing the backend's network namespace, a peer container MUST reach 11435 (401 without a token, 200 with it) and MUST NOT connect to 11434."},
		Requirement{ID: "NET-004", Level: Must, Needs: []Capability{Container, TokenFile}, Text: "The token file the proxy keeps in its container volume MUST have mode 0600 as seen through the Docker API, not as the proxy reports it."},
		Requirement{ID: "NET-005", Level: Must, Needs: container, Text: "After the proxy container is stopped its port MUST be closed, and once started again the old token MUST work and a streamed /api/generate MUST complete."},
	)
}
