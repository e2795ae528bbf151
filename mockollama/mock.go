// Package mockollama is a faithful, deterministic stand-in for Ollama's HTTP
// API (native /api/* and the OpenAI-compatible /v1/*), with fault injection
// driven by X-Mock-* request headers and a Record of every request received.
//
// Use it in-process (New gives an http.Handler, Start a real listener) or as
// the cmd/mockollama binary. The control API (ControlHandler) exposes the
// record and the default faults over HTTP on a separate listener.
package mockollama

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Options configures a Mock. Zero fields take the documented defaults.
type Options struct {
	Models   []string      // default: "llama3.2:1b", "qwen2.5:0.5b", "nomic-embed-text:latest"
	Seed     int64         // text is a deterministic function of (Seed, model, prompt)
	Version  string        // reported by /api/version, default "0.12.6"
	Chunks   int           // default content chunks per streamed response (default 8)
	Interval time.Duration // default delay between chunks (default 0)
	Logger   *slog.Logger  // nil = discard
}

// DefaultModels are the models a Mock serves when Options.Models is empty.
var DefaultModels = []string{"llama3.2:1b", "qwen2.5:0.5b", "nomic-embed-text:latest"}

// DefaultVersion is what /api/version reports when Options.Version is empty.
const DefaultVersion = "0.12.6"

// DefaultChunks is the number of content chunks when Options.Chunks is 0.
const DefaultChunks = 8

// Mock is Ollama's HTTP API as an http.Handler.
type Mock struct {
	opts   Options
	log    *slog.Logger
	record *Record

	mu     sync.Mutex
	faults Faults
	models []string             // normalized, in order
	loaded map[string]time.Time // model -> last use, for /api/ps
	blobs  map[string]bool      // "sha256:<hex>" uploaded
}

// New returns a Mock configured by opts.
func New(opts Options) *Mock {
	if len(opts.Models) == 0 {
		opts.Models = DefaultModels
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Chunks <= 0 {
		opts.Chunks = DefaultChunks
	}
	if opts.Interval < 0 {
		opts.Interval = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Mock{
		opts:   opts,
		log:    opts.Logger,
		record: newRecord(),
		loaded: map[string]time.Time{},
		blobs:  map[string]bool{},
	}
	seen := map[string]bool{}
	for _, name := range opts.Models {
		n := normalizeModel(name)
		if n == "" || seen[strings.ToLower(n)] {
			continue
		}
		seen[strings.ToLower(n)] = true
		m.models = append(m.models, n)
	}
	m.opts.Models = append([]string(nil), m.models...)
	return m
}

// Options returns the options in effect, defaults filled in.
func (m *Mock) Options() Options { return m.opts }

// Record is the log of every request the mock received.
func (m *Mock) Record() *Record { return m.record }

// SetFaults sets the default faults for every later request; X-Mock-* request
// headers still override them field by field. SetFaults(Faults{}) clears.
// A malformed Fault string makes later requests fail with 500; use
// Faults.Validate first (the control API does).
func (m *Mock) SetFaults(f Faults) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = f
}

// Faults returns the current default faults.
func (m *Mock) Faults() Faults {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faults
}

// lookupModel returns the served name matching name (tag defaulted,
// case-insensitive), or "".
func (m *Mock) lookupModel(name string) string {
	n := normalizeModel(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, have := range m.models {
		if strings.EqualFold(have, n) {
			return have
		}
	}
	return ""
}

func (m *Mock) modelList() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.models...)
}

func (m *Mock) addModel(name string) {
	n := normalizeModel(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, have := range m.models {
		if strings.EqualFold(have, n) {
			return
		}
	}
	m.models = append(m.models, n)
}

func (m *Mock) markLoaded(model string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loaded[model] = time.Now().UTC()
}
