package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Response bodies. They are constants: nothing the client or the backend sent
// is ever echoed.
const (
	unauthorizedBody = `{"error":"unauthorized"}`
	badGatewayBody   = `{"error":"ollama backend unavailable"}`
	wwwAuthenticate  = `Bearer realm="ollama"`
)

// Handler is the authenticating reverse proxy. Use it directly as
// http.Server.Handler: a ServeMux in front would clean paths.
type Handler struct {
	cfg       Config
	want      atomic.Pointer[tokenDigest]
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	log       *slog.Logger
	redactor  *RedactingHandler
}

// NewHandler validates cfg and builds the proxy handler.
func NewHandler(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	target := &url.URL{Scheme: "http", Host: cfg.BackendAddr}

	// Reuse the caller's redactor when it already has one, so one secret set
	// covers everything the process logs.
	red, ok := cfg.Logger.Handler().(*RedactingHandler)
	if !ok {
		red = NewRedactingHandler(cfg.Logger.Handler())
	}
	red.AddSecret(cfg.Token)
	h := &Handler{
		cfg:       cfg,
		transport: newTransport(cfg),
		log:       slog.New(red),
		redactor:  red,
	}
	h.cfg.Logger = h.log
	h.cfg.Token = "" // the handler keeps only the digest
	h.want.Store(digestOf(cfg.Token))
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target) // also sets Host to the backend's address
			// ReverseProxy re-encodes queries it cannot parse (";", bad
			// escapes); forward the client's query byte-exact instead. The
			// proxy never decides anything from the query, so there is no
			// parser differential to guard against.
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			if pr.In.RequestURI == "*" { // OPTIONS *: the asterisk form, not a path to join
				pr.Out.URL.Path, pr.Out.URL.RawPath, pr.Out.URL.Opaque = "", "", "*"
			}
			scrubRequestHeaders(pr.Out.Header)
			forwardBufferedBody(pr)
		},
		Transport: h.transport,
		// Streams (text/event-stream, or no Content-Length: NDJSON) are
		// flushed on every write whatever this says, headers at once.
		// A body of known length is flushed at most this long after a
		// write, so a small answer leaves in one write, headers and body
		// together, instead of a header flush from a timer goroutine
		// followed by a body flush (-1 costs both on every request).
		FlushInterval: knownLengthFlushInterval,
		BufferPool:    newBufferPool(),
		ErrorHandler:  h.backendError,
		ErrorLog:      slog.NewLogLogger(red, slog.LevelWarn),
	}
	return h, nil
}

// SetToken atomically replaces the expected token. Requests already
// authenticated are unaffected; later ones must present the new token.
func (h *Handler) SetToken(token string) error {
	if err := validateToken(token); err != nil {
		return err
	}
	h.redactor.AddSecret(token)
	h.want.Store(digestOf(token))
	return nil
}

// Close releases idle backend connections.
func (h *Handler) Close() { h.transport.CloseIdleConnections() }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	start := time.Now()
	defer func() {
		p := recover()
		h.accessLog(r, rec, start, p != nil)
		if p != nil {
			panic(p) // http.ErrAbortHandler: net/http aborts the client connection
		}
	}()
	if !(h.cfg.HealthExempt && IsExempt(r)) && !authorized(r, h.want.Load()) {
		h.rejectBody(rec, r)
		writeJSON(rec, http.StatusUnauthorized, unauthorizedBody, true)
		return
	}
	if !bufferSmallBody(r) && r.ContentLength != 0 {
		// Streamed body: forwarded full duplex, or half-duplex net/http would
		// drain and close it once the answer's headers go out, under the
		// transport still reading it (golang/go#40747, FWD-011); guarded so
		// the transport never reads it out of turn (streamedBody).
		rc := http.NewResponseController(rec)
		_ = rc.EnableFullDuplex() // not on every writer (HTTP/2 is always full duplex)
		body := newStreamedBody(r.Body, r.ContentLength)
		r.Body = body
		defer body.finish(rc)
	}
	h.proxy.ServeHTTP(rec, r)
}

// A rejected request's small body is drained, for at most rejectBodyDrain,
// so that its connection can serve the next request: a flood of bad tokens
// then stays cheap instead of costing a TCP handshake each.
const (
	rejectBodyDrain   = 200 * time.Millisecond
	rejectBodyMaxKeep = 64 << 10
)

// rejectBody decides what happens to the body of a request about to get 401.
// Left alone, net/http would drain up to 256 KiB of it with no time limit
// before answering, so a client that never sends its body would never see
// its 401. A small body of declared length that has arrived is discarded
// and the connection kept; anything else (large, chunked, or late) closes
// the connection without waiting for the rest.
func (h *Handler) rejectBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	// Reading a body sent with Expect: 100-continue would solicit it with a
	// 100 Continue; such a client has sent nothing yet, so just close.
	waiting := strings.EqualFold(r.Header.Get("Expect"), "100-continue")
	if r.ContentLength > 0 && r.ContentLength <= rejectBodyMaxKeep && !waiting {
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(rejectBodyDrain)) == nil {
			// On failure the expired deadline stays: net/http's own drain of
			// the rest then gives up at once instead of waiting forever.
			if _, err := io.Copy(io.Discard, r.Body); err == nil && rc.SetReadDeadline(time.Time{}) == nil {
				return
			}
		}
	}
	w.Header().Set("Connection", "close")
}

// scrubRequestHeaders removes what must not reach the backend: the client's
// credentials and every forwarding header the client could have forged.
// ReverseProxy already removed hop-by-hop headers and, in Rewrite mode,
// X-Forwarded-For/-Host/-Proto.
func scrubRequestHeaders(hdr http.Header) {
	// Case-insensitive without allocating: keys net/http could not
	// canonicalise keep the client's spelling.
	const xf = "X-Forwarded-"
	for k := range hdr {
		if strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "Forwarded") || strings.EqualFold(k, "X-Real-Ip") ||
			len(k) >= len(xf) && strings.EqualFold(k[:len(xf)], xf) {
			delete(hdr, k)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, body string, challenge bool) {
	hdr := w.Header()
	if challenge {
		hdr.Set("WWW-Authenticate", wwwAuthenticate)
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// backendError answers when the backend could not be reached or did not send
// response headers. A client that went away gets nothing.
func (h *Handler) backendError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
		if rec, ok := w.(*recorder); ok {
			rec.canceled = true
		}
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "client went away before the backend answered",
			slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()), slog.String("error", err.Error()))
		return
	}
	h.log.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelWarn, "ollama backend unavailable",
		slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()),
		slog.String("backend", h.cfg.BackendAddr), slog.String("error", describe(err)))
	writeJSON(w, http.StatusBadGateway, badGatewayBody, false)
}

func describe(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("timeout: %v", err)
	}
	return err.Error()
}

func (h *Handler) accessLog(r *http.Request, rec *recorder, start time.Time, aborted bool) {
	if !h.log.Enabled(r.Context(), slog.LevelDebug) {
		return // the common case: no per-request work at all
	}
	ctx := context.WithoutCancel(r.Context()) // a cancelled client must not drop its log line
	status := rec.status
	switch {
	case rec.canceled:
		status = 499 // client closed request (nginx convention); nothing was sent
	case status == 0:
		status = http.StatusOK
	}
	h.log.LogAttrs(ctx, slog.LevelDebug, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int64("bytes", rec.bytes),
		slog.String("remote", r.RemoteAddr),
		slog.Bool("aborted", aborted))
}

// recorder captures the status and size for the access log. It exposes the
// underlying writer through Unwrap, so http.ResponseController (which
// ReverseProxy uses to flush and hijack) reaches the real connection.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	canceled bool
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// FlushError is what http.ResponseController calls first; it reports a
// failed flush (client gone) instead of hiding it.
func (w *recorder) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher for code that type-asserts it.
func (w *recorder) Flush() { _ = w.FlushError() }

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
