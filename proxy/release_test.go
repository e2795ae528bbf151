package proxy

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryReleasedOnlyAfterABurst(t *testing.T) {
	var released atomic.Int32
	m := &memoryReleaser{release: func() { released.Add(1) }}
	cycle := func(n int) {
		for i := 0; i < n; i++ {
			m.connState(nil, http.StateNew)
		}
		for i := 0; i < n; i++ {
			m.connState(nil, http.StateClosed)
		}
	}
	cycle(10) // ordinary traffic: nothing to give back
	time.Sleep(300 * time.Millisecond)
	if released.Load() != 0 {
		t.Fatalf("released memory after 10 connections")
	}
	cycle(burstConns)
	time.Sleep(300 * time.Millisecond)
	if released.Load() != 1 {
		t.Fatalf("released %d times after a burst of %d connections, want once", released.Load(), burstConns)
	}
	cycle(10)
	time.Sleep(300 * time.Millisecond)
	if released.Load() != 1 {
		t.Fatalf("released again without a new burst")
	}
}
