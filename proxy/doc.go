// Package proxy is Tollgate's reference authenticating reverse proxy for a
// local Ollama: it listens on all interfaces, demands a per-instance Bearer
// token and forwards authenticated requests, byte-exact and streamed, to
// Ollama on 127.0.0.1.
//
// It is the Go drop-in for NemoClaw's scripts/ollama-auth-proxy.js and honours
// the same launch contract (see package proxy/cli for the command line).
package proxy
