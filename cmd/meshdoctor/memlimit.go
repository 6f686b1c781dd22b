package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set (runtime/debug.SetMemoryLimit), while the live heap is small.
// Below it the collector runs as GOGC=100 says, so a small mesh costs no
// extra CPU; a large inventory (20,000 Services and their slices: about 24
// MiB kept since the compact types, which GOGC alone lets grow to twice
// that before collecting the decoded pages' garbage) is collected more
// often instead of growing past it. The peak RSS of a run whose live heap
// stays below the limit is the limit plus ~40 MiB of binary and runtime:
// three clusters of 20,000 Services (BenchmarkThreeLargeClustersBinary,
// same run) peaked at 203 MiB at 160 MiB, 193.5 MiB at 150 (CPU 3.8 s
// against 3.5-3.6 s), 188.7 MiB at 144 (4.2-4.4 s). A live heap above it
// moves it (followMemoryLimit).
const defaultMemoryLimit = 150 << 20

// limitHeadroom is the part of the live heap the limit leaves for new
// allocation once the live heap outgrows defaultMemoryLimit: 1.5 × live,
// the heap goal of GOGC=50.
const limitHeadroom = 2 // live/limitHeadroom on top of live

// followMemoryLimit sets the soft memory limit to base and, after each
// collection, to max(base, 1.5 × the heap that collection found live). A
// fixed limit below the live heap makes the collector run without end (the
// runtime caps it at about half the CPU): three clusters of 20,000
// Services kept about 250 MiB live under the fixed 160 MiB limit and took
// 11.7 s of CPU instead of 3.6 s (BenchmarkThreeLargeClustersBinary).
// Following the live heap keeps the limit's saving for meshes that fit
// and costs a large one at most GOGC=50's collections.
//
// stop ends the following (the limit then stays where it is).
func followMemoryLimit(base int64) (stop func()) {
	var stopped atomic.Bool
	debug.SetMemoryLimit(base)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		// A finalizer runs once per collection that finds its object
		// unreachable; each run arms the next. The object holds a pointer,
		// so it is never one of the runtime's tiny (batched) allocations,
		// whose finalizers may not run.
		type sentinel struct{ _ *int }
		runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
			if stopped.Load() {
				return
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				live := int64(sample[0].Value.Uint64())
				debug.SetMemoryLimit(max(base, live+live/limitHeadroom))
			}
			arm()
		})
	}
	arm()
	return func() { stopped.Store(true) }
}
