package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Defaults applied to zero Config fields.
const (
	DefaultListenAddr            = "0.0.0.0:11435"
	DefaultBackendAddr           = "127.0.0.1:11434"
	DefaultResponseHeaderTimeout = 10 * time.Minute // cold model loads can take minutes
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultMaxHeaderBytes        = 64 << 10
	DefaultShutdownGrace         = 30 * time.Second
	DefaultIdleTimeout           = 2 * time.Minute
	DefaultDialTimeout           = 5 * time.Second
)

// Config configures the proxy. Zero durations and sizes take the defaults
// above; Token is required.
type Config struct {
	ListenAddr            string        // "0.0.0.0:11435"
	BackendAddr           string        // "127.0.0.1:11434"
	Token                 string        // required, non-empty
	HealthExempt          bool          // exactly GET /api/tags passes without a token
	ResponseHeaderTimeout time.Duration // bounded wait for backend headers; default 10m (cold model loads)
	ReadHeaderTimeout     time.Duration // default 10s
	MaxHeaderBytes        int           // default 64 KiB; net/http answers 431 past it
	ShutdownGrace         time.Duration // default 30s: drain in-flight streams on shutdown
	Logger                *slog.Logger  // nil = discard
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.BackendAddr == "" {
		c.BackendAddr = DefaultBackendAddr
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem with c as a one-line, user-facing error.
// Zero fields are valid: they take their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := validateToken(c.Token); err != nil {
		return err
	}
	lhost, lport, err := splitAddr("listen address", c.ListenAddr, true)
	if err != nil {
		return err
	}
	bhost, bport, err := splitAddr("backend address", c.BackendAddr, false)
	if err != nil {
		return err
	}
	if lport == bport && lport != 0 && sameHostSpace(lhost, bhost) {
		return fmt.Errorf("listen port %d is the backend port: the proxy would forward to itself", lport)
	}
	switch {
	case c.ResponseHeaderTimeout < 0:
		return errors.New("response header timeout must be positive")
	case c.ReadHeaderTimeout < 0:
		return errors.New("read header timeout must be positive")
	case c.ShutdownGrace < 0:
		return errors.New("shutdown grace must be positive")
	case c.MaxHeaderBytes < 0:
		return errors.New("max header bytes must be positive")
	}
	return nil
}

// validateToken refuses tokens the proxy could never match: empty, or with
// bytes outside RFC 7235 token68 (a client cannot send them after "Bearer ").
func validateToken(token string) error {
	if token == "" {
		return errors.New("token is empty: refusing to run without authentication")
	}
	if !isToken68(token) {
		return errors.New("token has characters outside A-Z a-z 0-9 - . _ ~ + / (and trailing =): a client could never send it as a Bearer token")
	}
	return nil
}

func splitAddr(what, addr string, portZeroOK bool) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q is not host:port", what, addr)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !portZeroOK) {
		return "", 0, fmt.Errorf("%s %q has an invalid port (want 1-65535)", what, addr)
	}
	return host, n, nil
}

// sameHostSpace reports whether a listener on lhost would also receive
// connections addressed to bhost (so equal ports would loop).
func sameHostSpace(lhost, bhost string) bool {
	if lhost == bhost {
		return true
	}
	lip := net.ParseIP(lhost)
	if lhost == "" || (lip != nil && lip.IsUnspecified()) {
		return true
	}
	bip := net.ParseIP(bhost)
	return lip != nil && bip != nil && lip.Equal(bip)
}
