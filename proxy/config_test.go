package proxy

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"minimal", Config{Token: "abc"}, ""},
		{"explicit", Config{Token: "abc", ListenAddr: "0.0.0.0:8080", BackendAddr: "127.0.0.1:9090", ResponseHeaderTimeout: time.Second}, ""},
		{"ephemeral listen", Config{Token: "abc", ListenAddr: "127.0.0.1:0"}, ""},
		{"no token", Config{}, "token is empty"},
		{"token with space", Config{Token: "a b"}, "characters outside"},
		{"token with newline", Config{Token: "abc\n"}, "characters outside"},
		{"non-ascii token", Config{Token: "t\u00e9"}, "characters outside"},
		{"same port", Config{Token: "abc", ListenAddr: "0.0.0.0:11434"}, "backend port"},
		{"same port loopback", Config{Token: "abc", ListenAddr: "127.0.0.1:11434"}, "backend port"},
		{"same port empty host", Config{Token: "abc", ListenAddr: ":11434"}, "backend port"},
		{"same port other host", Config{Token: "abc", ListenAddr: "10.0.0.1:11434"}, ""},
		{"bad listen", Config{Token: "abc", ListenAddr: "11435"}, "not host:port"},
		{"bad listen port", Config{Token: "abc", ListenAddr: "0.0.0.0:http"}, "invalid port"},
		{"listen port range", Config{Token: "abc", ListenAddr: "0.0.0.0:70000"}, "invalid port"},
		{"backend port zero", Config{Token: "abc", BackendAddr: "127.0.0.1:0"}, "invalid port"},
		{"negative timeout", Config{Token: "abc", ResponseHeaderTimeout: -time.Second}, "response header timeout"},
		{"negative read header", Config{Token: "abc", ReadHeaderTimeout: -1}, "read header timeout"},
		{"negative grace", Config{Token: "abc", ShutdownGrace: -1}, "shutdown grace"},
		{"negative header bytes", Config{Token: "abc", MaxHeaderBytes: -1}, "max header bytes"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		case err != nil && (strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), tt.cfg.Token) && tt.cfg.Token != ""):
			t.Errorf("%s: error not one line or echoes the token: %q", tt.name, err)
		}
		if _, herr := NewHandler(tt.cfg); (herr == nil) != (err == nil) {
			t.Errorf("%s: NewHandler disagrees with Validate: %v vs %v", tt.name, herr, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.ListenAddr != "0.0.0.0:11435" || c.BackendAddr != "127.0.0.1:11434" || c.ResponseHeaderTimeout != 10*time.Minute ||
		c.ReadHeaderTimeout != 10*time.Second || c.MaxHeaderBytes != 64<<10 || c.ShutdownGrace != 30*time.Second || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	h, err := NewHandler(Config{Token: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	tr := h.transport
	if tr.Proxy != nil || !tr.DisableCompression || tr.MaxIdleConnsPerHost < 64 || tr.ResponseHeaderTimeout != 10*time.Minute ||
		tr.ForceAttemptHTTP2 || tr.Protocols == nil || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1() {
		t.Errorf("transport: %+v", tr)
	}
	srv := newServer(h, Config{})
	if srv.WriteTimeout != 0 || srv.ReadHeaderTimeout != 10*time.Second || srv.MaxHeaderBytes != 64<<10 || srv.IdleTimeout == 0 || srv.Handler != h {
		t.Errorf("server: %+v", srv)
	}
	if h.cfg.Token != "" {
		t.Error("handler keeps the plaintext token")
	}
}
