package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// Redacted replaces secrets in log output.
const Redacted = "[REDACTED]"

// RedactingHandler wraps a slog.Handler so that no secret (the proxy token,
// past tokens, any Authorization value) reaches the output, whatever the
// message or attributes contain. Every handler derived from it (WithAttrs,
// WithGroup) shares its secret set, so AddSecret covers them all.
type RedactingHandler struct {
	next    slog.Handler
	secrets *secretSet
}

type secretSet struct {
	mu   sync.RWMutex
	list []string
}

// credentialPattern catches credentials after an auth scheme, e.g. a client's
// wrong "Bearer xyz" quoted in an error: never the proxy's token, but still an
// Authorization value that must not be logged.
var credentialPattern = regexp.MustCompile(`\b((?i:bearer)|Basic|Digest)([ \t]+)[^\s"',;]+`)

// keys whose values are always redacted, compared case-insensitively.
var secretKeys = map[string]bool{"authorization": true, "proxy-authorization": true, "token": true}

// NewRedactingHandler returns a handler that redacts secrets before next sees
// a record. Empty secrets are ignored.
func NewRedactingHandler(next slog.Handler, secrets ...string) *RedactingHandler {
	h := &RedactingHandler{next: next, secrets: &secretSet{}}
	for _, s := range secrets {
		h.AddSecret(s)
	}
	return h
}

// AddSecret adds s to the redacted set of h and of every handler derived from it.
func (h *RedactingHandler) AddSecret(s string) {
	if s == "" {
		return
	}
	h.secrets.mu.Lock()
	defer h.secrets.mu.Unlock()
	for _, have := range h.secrets.list {
		if have == s {
			return
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	list := append([]string{s}, h.secrets.list...)
	for i := 1; i < len(list) && len(list[i]) > len(list[i-1]); i++ {
		list[i], list[i-1] = list[i-1], list[i]
	}
	h.secrets.list = list
}

// Redact returns s with every secret and credential replaced by Redacted.
func (h *RedactingHandler) Redact(s string) string {
	h.secrets.mu.RLock()
	for _, secret := range h.secrets.list {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Redacted)
		}
	}
	h.secrets.mu.RUnlock()
	if credentialPattern.MatchString(s) {
		s = credentialPattern.ReplaceAllString(s, "${1}${2}"+Redacted)
	}
	return s
}

// Enabled implements slog.Handler.
func (h *RedactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *RedactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *RedactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.redactAttr(a)
	}
	return &RedactingHandler{next: h.next.WithAttrs(red), secrets: h.secrets}
}

// WithGroup implements slog.Handler.
func (h *RedactingHandler) WithGroup(name string) slog.Handler {
	return &RedactingHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

func (h *RedactingHandler) redactAttr(a slog.Attr) slog.Attr {
	a.Key = h.Redact(a.Key)
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.Redact(v.String()))
	case slog.KindGroup:
		group := v.Group()
		red := make([]any, len(group))
		for i, g := range group {
			red[i] = h.redactAttr(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		return slog.Attr{Key: a.Key, Value: h.redactAny(v)}
	default: // numbers, bools, times, durations hold no secret text
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// redactAny renders arbitrary values the ways a handler might (fmt for text,
// encoding/json for JSON) and, when either rendering holds a secret, replaces
// the value with its redacted text.
func (h *RedactingHandler) redactAny(v slog.Value) slog.Value {
	x := v.Any()
	var text string
	switch t := x.(type) {
	case error:
		text = t.Error()
	case fmt.Stringer:
		text = t.String()
	case []byte:
		text = string(t)
	default:
		text = fmt.Sprintf("%+v", x)
	}
	if red := h.Redact(text); red != text {
		return slog.StringValue(red)
	}
	if _, isErr := x.(error); isErr {
		return v
	}
	if js, err := json.Marshal(x); err == nil {
		if s := string(js); h.Redact(s) != s {
			return slog.StringValue(h.Redact(text))
		}
	}
	if _, isBytes := x.([]byte); isBytes {
		return slog.StringValue(text) // JSON would base64 it; keep it readable and checked
	}
	return v
}
