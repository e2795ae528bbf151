package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type payload struct {
	Name   string
	Secret string
}

func TestRedactingHandler(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			var base slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			if format == "json" {
				base = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			red := NewRedactingHandler(base, testToken)
			log := slog.New(red)
			log.Info("token is " + testToken)
			log.Info("msg", "value", "x"+testToken+"y")
			log.Info("msg", "err", errors.New("dial failed: "+testToken))
			log.Info("msg", "stringer", stringer{testToken})
			log.Info("msg", "bytes", []byte(testToken))
			log.Info("msg", "struct", payload{"n", testToken})
			log.Info("msg", slog.Group("g", slog.String("inner", testToken), slog.Group("h", slog.Any("deep", testToken))))
			log.Info("msg", "Authorization", "Bearer something-else")
			log.Info("msg", "token", "not-the-token-but-keyed")
			log.Info("client sent Authorization: Bearer wr0ng-t0ken and basic Basic dXNlcjpwYXNz")
			log.With("attr", testToken).WithGroup("grp").Info("with", "k", testToken)
			log.Info("msg", slog.Any("valuer", slog.StringValue(testToken)))
			log.Info(testToken, testToken, 1) // token as a key
			rotated := "r0tated-Token_9876543210"
			derived := log.With("a", 1)
			red.AddSecret(rotated)
			derived.Info("rotated " + rotated)
			log.Debug("level ok", "n", 3)

			out := buf.String()
			for _, secret := range []string{testToken, rotated, "something-else", "not-the-token-but-keyed", "wr0ng-t0ken", "dXNlcjpwYXNz"} {
				if strings.Contains(out, secret) {
					t.Errorf("%q leaked:\n%s", secret, out)
				}
			}
			if strings.Count(out, "\n") != 15 || !strings.Contains(out, Redacted) || !strings.Contains(out, "level ok") {
				t.Errorf("output mangled:\n%s", out)
			}
		})
	}
}

func TestRedactingHandlerEnabled(t *testing.T) {
	red := NewRedactingHandler(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if red.Enabled(context.Background(), slog.LevelInfo) || !red.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("Enabled does not follow the wrapped handler")
	}
	red.AddSecret("")
	if got := red.Redact("plain text"); got != "plain text" {
		t.Errorf("Redact changed %q", got)
	}
}

// TestProxyNeverLogsToken drives every logging path of the proxy with the
// token in the request and checks the output.
func TestProxyNeverLogsToken(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			logs := &logBuffer{}
			var h slog.Handler = slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
			if format == "json" {
				h = slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			down := closedAddr(t)
			p := startProxy(t, Config{BackendAddr: down, Logger: slog.New(h)})
			for _, raw := range []string{
				rawReq("GET", "/api/tags", "Authorization: Bearer "+testToken),
				rawReq("GET", "/api/"+testToken, "Authorization: Bearer "+testToken),
				rawReq("GET", "/api/x?token="+testToken),
				rawReq("GET", "/api/x", "Authorization: Bearer "+testToken+"x"),
				rawReq("GET", "/api/x", "Authorization: Bearer "+testToken, "Authorization: Bearer "+testToken),
			} {
				rawResponse(t, p.addr, raw)
			}
			p.handler.log.Warn(fmt.Sprintf("deliberate: %s", testToken), "err", &net.OpError{Op: "dial", Err: errors.New(testToken)})
			out := logs.String()
			if !strings.Contains(out, "ollama backend unavailable") || !strings.Contains(out, "request") {
				t.Fatalf("expected logs missing:\n%s", out)
			}
			if strings.Contains(out, testToken) {
				t.Errorf("token leaked:\n%s", out)
			}
			// And never in a response.
			resp, body := rawResponse(t, p.addr, rawReq("GET", "/api/x", "Authorization: Bearer "+testToken))
			if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(body), testToken) {
				t.Errorf("%d %q", resp.StatusCode, body)
			}
		})
	}
}
