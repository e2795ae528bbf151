package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/fixtures/images"
)

// Labels Tollgate puts on every container, network and volume it creates.
const (
	LabelRun      = "tollgate.run"      // the run ID; Cleanup removes by it
	LabelRole     = "tollgate.role"     // mock, proxy, probe...
	LabelTopology = "tollgate.topology" // one container topology within a run
)

// ImageRefs names the images a session runs.
type ImageRefs struct {
	Proxy string // the proxy under test (container topology)
	Mock  string // Tollgate's mock Ollama
	Probe string // tollgate-probe
}

// DefaultImages are the images `make images` builds.
func DefaultImages() ImageRefs {
	return ImageRefs{Proxy: images.Proxy.Ref, Mock: images.Mock.Ref, Probe: images.Probe.Ref}
}

// SessionOptions configures NewSession.
type SessionOptions struct {
	Driver string    // DriverNames(); "" = DefaultDriver
	RunID  string    // "" = a new one (NewRunID)
	Images ImageRefs // zero fields = DefaultImages
	// HandleSignals removes the run's resources on SIGINT or SIGTERM;
	// with ExitOnSignal the process then exits 130.
	HandleSignals bool
	ExitOnSignal  bool
	Log           io.Writer // one line per notable event (cleanup); nil = discard
}

// Session is one run against a container engine: every resource it creates
// carries LabelRun=RunID and is removed by Close, by the signal handler, or
// later by Cleanup(ctx, RunID).
type Session struct {
	Driver Driver
	RunID  string
	Images ImageRefs

	log io.Writer

	mu         sync.Mutex
	network    *Network
	hostProbes map[string]string // gateway name -> probe container (host topology)
	topoSeq    int
	closed     bool

	stopSignals func()
	cleanupMu   sync.Mutex
}

// NewRunID returns a fresh run ID: "tg" and 10 hex digits.
func NewRunID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "tg" + hex.EncodeToString(b[:])
}

// NewSession connects a driver and starts a run. It fails with an ErrEngine
// error when no engine answers, and when a required image is missing
// locally (it never pulls).
func NewSession(ctx context.Context, opts SessionOptions) (*Session, error) {
	if err := CheckEngine(ctx); err != nil {
		return nil, err
	}
	d, err := NewDriver(ctx, opts.Driver)
	if err != nil {
		return nil, err
	}
	if err := d.Ping(ctx); err != nil {
		_ = d.Close()
		return nil, engineError(err)
	}
	s := &Session{Driver: d, RunID: opts.RunID, Images: opts.Images, log: opts.Log}
	if s.RunID == "" {
		s.RunID = NewRunID()
	}
	def := DefaultImages()
	if s.Images.Proxy == "" {
		s.Images.Proxy = def.Proxy
	}
	if s.Images.Mock == "" {
		s.Images.Mock = def.Mock
	}
	if s.Images.Probe == "" {
		s.Images.Probe = def.Probe
	}
	if s.log == nil {
		s.log = io.Discard
	}
	if opts.HandleSignals {
		s.stopSignals = s.handleSignals(opts.ExitOnSignal)
	}
	return s, nil
}

// handleSignals removes the run's resources on SIGINT/SIGTERM.
func (s *Session) handleSignals(exit bool) func() {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			signal.Stop(ch)
			rm, err := s.removeAll(context.Background())
			fmt.Fprintf(s.log, "containers: %v: removed run %s (%s)%s\n", sig, s.RunID, rm, errSuffix(err))
			if exit {
				os.Exit(130)
			}
		case <-done:
			signal.Stop(ch)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return "; " + oneLine(err.Error())
}

// Labels returns the labels for a resource of this run with the given role.
func (s *Session) Labels(role string) map[string]string {
	l := map[string]string{LabelRun: s.RunID}
	if role != "" {
		l[LabelRole] = role
	}
	return l
}

// Network returns the run's user network, creating it on first use.
func (s *Session) Network(ctx context.Context) (Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.network != nil {
		return *s.network, nil
	}
	nw, err := s.Driver.CreateNetwork(ctx, "tollgate-"+s.RunID, s.Labels("network"))
	if err != nil {
		return Network{}, fmt.Errorf("creating the run's network: %w", err)
	}
	s.network = &nw
	return nw, nil
}

// RequireImages checks the given images are present locally, in one line.
func (s *Session) RequireImages(ctx context.Context, refs ...string) error {
	var missing []string
	for _, ref := range refs {
		_, ok, err := s.Driver.ImageLabels(ctx, ref)
		if err != nil {
			return engineError(err)
		}
		if !ok {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("images not present locally: %v (Tollgate never pulls; run `make images`)", missing)
	}
	return nil
}

// Close removes every resource of the run and releases the driver. It is
// safe to call more than once and concurrently with the signal handler.
func (s *Session) Close(ctx context.Context) (Removed, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Removed{}, nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.stopSignals != nil {
		s.stopSignals()
	}
	rm, err := s.removeAll(ctx)
	return rm, errors.Join(err, s.Driver.Close())
}

// removeAll removes every resource of the run. It runs even when ctx is
// already cancelled (an interrupted run is when it matters most), bounded
// by its own deadline, and one removal at a time (signal handler and Close).
func (s *Session) removeAll(ctx context.Context) (Removed, error) {
	s.cleanupMu.Lock()
	defer s.cleanupMu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return s.Driver.RemoveLabelled(rctx, LabelRun+"="+s.RunID)
}

// Cleanup removes the containers, networks and volumes of one run, or of
// every Tollgate run when runID is "" or "all", through the default driver.
// It is what `tollgate cleanup` calls.
func Cleanup(ctx context.Context, runID string) (Removed, error) {
	d, err := NewDriver(ctx, DefaultDriver)
	if err != nil {
		return Removed{}, err
	}
	defer d.Close()
	return CleanupWith(ctx, d, runID)
}

// CleanupWith is Cleanup through a given driver.
func CleanupWith(ctx context.Context, d Driver, runID string) (Removed, error) {
	sel := LabelRun
	if runID != "" && runID != "all" {
		sel = LabelRun + "=" + runID
	}
	return d.RemoveLabelled(ctx, sel)
}
