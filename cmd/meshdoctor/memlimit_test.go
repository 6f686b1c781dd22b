package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestMemoryLimitFollowsTheLiveHeap: the limit stays at its base while
// the live heap is small, and after a collection that finds more live
// than the base it is 1.5 × that live heap, so the collector is never
// asked to keep the heap below what is live.
func TestMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	const base = 4 << 20
	defer followMemoryLimit(base)()
	runtime.GC()
	runtime.GC() // the finalizer of the first collection's sentinel has run by the second's end
	if got := debug.SetMemoryLimit(-1); got < base {
		t.Fatalf("limit %d, want at least the base %d", got, base)
	}
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20) // 64 MiB live, 16 × the base
	}
	want := int64(64<<20) * 3 / 2
	// Each collection runs the finalizer armed by the one before; wait on
	// that event (the limit moving), not on time.
	for i := 0; i < 100 && debug.SetMemoryLimit(-1) < want; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := debug.SetMemoryLimit(-1); got < want {
		t.Errorf("with 64 MiB live the limit is %d MiB, want at least %d MiB", got>>20, want>>20)
	}
	runtime.KeepAlive(live)
}
