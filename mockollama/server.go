package mockollama

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a Mock served on a real listener.
type Server struct {
	*Mock
	Addr string // host:port actually bound
	URL  string // http://Addr

	srv       *http.Server
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves the
// Ollama API over HTTP/1.1 with keep-alive.
func Start(addr string, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, New(opts)), nil
}

// Serve serves m on ln until Close.
func Serve(ln net.Listener, m *Mock) *Server {
	s := &Server{
		Mock: m,
		Addr: ln.Addr().String(),
		srv: &http.Server{
			Handler:           m,
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelDebug),
		},
		done: make(chan struct{}),
	}
	s.URL = "http://" + s.Addr
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("mockollama: serve", "err", err)
		}
	}()
	return s
}

// Close is a hard stop: it closes the listener and every open connection at
// once, as if the backend died. The address is free again when Close returns.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.srv.Close()
		<-s.done
	})
	return s.closeErr
}
