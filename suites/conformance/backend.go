package conformance

import (
	"time"

	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/mockollama"
)

// BackendDown stops the mock for the duration of fn and starts a fresh one on
// the same address afterwards, so every later spec has a backend again.
func (h *Harness) BackendDown(fn func()) {
	addr := h.Mock.Addr
	ExpectWithOffset(1, h.Mock.Close()).To(Succeed(), "[harness] stopping the mock")
	defer h.BackendUp(addr)
	fn()
}

// BackendUp starts the mock again on addr, retrying briefly while the port
// is released.
func (h *Harness) BackendUp(addr string) {
	var err error
	for i := 0; i < 50; i++ {
		var m *mockollama.Server
		if m, err = mockollama.Start(addr, mockollama.Options{Seed: h.cfg.Seed}); err == nil {
			h.Mock = m
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	HarnessFail("cannot restart the mock on %s: %v", addr, err)
}
