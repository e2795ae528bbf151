package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
)

// newServer returns the http.Server Serve runs: h as the handler itself (no
// ServeMux, which would clean paths), bounded header reads and idle time, and
// no WriteTimeout, since inference streams may last as long as they like.
func newServer(h *Handler, cfg Config) *http.Server {
	cfg = cfg.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		IdleTimeout:       DefaultIdleTimeout,
		// "OPTIONS *" goes through authentication like everything else.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
		ConnState:                    newMemoryReleaser().connState,
	}
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: the
// listener closes at once (the port stops accepting), in-flight requests and
// streams get up to cfg.ShutdownGrace to finish, and whatever is left is then
// closed. It returns nil after a shutdown caused by ctx, or the error that
// stopped the server.
func Serve(ctx context.Context, ln net.Listener, h *Handler, cfg Config) error {
	cfg = cfg.withDefaults()
	srv := newServer(h, cfg)
	defer h.Close()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc: // the listener failed on its own
		_ = srv.Close()
		return err
	case <-ctx.Done():
	}

	log := h.log
	log.Info("shutting down: listener closed, draining in-flight requests", "grace", cfg.ShutdownGrace)
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(graceCtx) // closes the listener first, then waits
	if err != nil {
		log.Warn("shutdown grace expired: closing remaining connections", "error", err.Error())
		_ = srv.Close()
	}
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	log.Info("shutdown complete")
	return nil
}
