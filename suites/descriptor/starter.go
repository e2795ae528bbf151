package descriptor

// Starter is the commented file `tollgate init` writes: valid as it stands
// (an exec target), with every other field explained.
const Starter = `# tollgate.yaml: how Tollgate starts and judges this proxy.
# Run it with:  tollgate run -f tollgate.yaml --report-dir reports
# Flags given on the command line override the values in this file.

# kind: builtin (Tollgate's reference proxy), exec (a command Tollgate starts),
# url (a proxy you already run against Tollgate's mock) or image (a container
# image; accepted here, not run yet).
kind: exec

# exec: the proxy's command line, run from this file's directory. Tollgate
# starts it with OLLAMA_PROXY_TOKEN, OLLAMA_PROXY_PORT and OLLAMA_BACKEND_PORT
# (and OLLAMA_PROXY_TOKEN_FILE with the token-file capability) on free
# loopback ports, restarts it for the restart checks and kills its process
# group at the end. Shell syntax runs through /bin/sh -c.
command: ./my-proxy

# image: my-proxy:dev          # kind image: a locally built image
# host_network: true           # kind image: the request-level requirements, a container per
#                              # start on the host's network (Linux); without it, NET-003..005

# kind url only. Never write a token in this file: name the environment
# variable that holds it.
# url: http://127.0.0.1:11435
# token_env: MY_PROXY_TOKEN
# backend_listen: 127.0.0.1:11434   # where the proxy forwards; Tollgate's mock listens there

# Extra environment for the proxy (exec and image). The launch contract
# variables above are Tollgate's and may not be set here.
# env:
#   LOG_LEVEL: debug

# Optional behaviours the proxy implements: token-file.
capabilities: []

# health-exempt: exactly GET /api/tags is open without a token (the default);
# strict-auth: the token is required everywhere.
profile: health-exempt

# true: SHOULD failures fail the run too, not only MUST failures.
strict: false

# Requirements (ID, group or label) left out on purpose, each with a reason.
# skip:
#   - id: FWD-008
#     reason: our proxy sits behind a load balancer that sets X-Forwarded-For

# Run only these requirement IDs, groups or labels (default: all).
# focus: [auth, streaming]
`
