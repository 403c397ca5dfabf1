// Package shortlived tunes the garbage collector for a command that lives
// tens of milliseconds and allocates a few tens of MiB in all. Imported for
// its side effect (like go.uber.org/automaxprocs), it turns the collector
// off up to a memory limit, so such a run collects never rather than two
// or three times. A run that reaches the limit (a spec of tens of
// thousands of fields) gets the collector's default pacing from then on:
// with the collector off, a live heap near the limit would make it collect
// again on almost every allocation, which made a large spec's build take
// several times longer. GOGC and GOMEMLIMIT in the environment still win.
//
// It does this in init, not in main, because the other packages' init
// functions allocate too (santhosh-tekuri/jsonschema alone about 1.7 MB)
// and used to trigger a collection before main. The package imports only
// the standard library, so Go's initialization order (ready packages by
// import path) runs it early; if it ran later it would only save less.
package shortlived

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
)

// MemoryLimit is the heap size at which a run collects after all: far
// above what one spec needs (about 30 MiB resident), low enough that a
// runaway input cannot take the machine's memory before the default
// pacing (a heap of at most twice the live data) takes over.
const MemoryLimit = 256 << 20

// DefaultGCPercent is the pacing a run gets once it reaches MemoryLimit:
// Go's default.
const DefaultGCPercent = 100

func init() {
	gogc, limit := os.Getenv("GOGC") == "", os.Getenv("GOMEMLIMIT") == ""
	if gogc {
		debug.SetGCPercent(-1)
	}
	if limit {
		debug.SetMemoryLimit(MemoryLimit)
	}
	if gogc && limit {
		onFirstCollection(func() {
			debug.SetGCPercent(DefaultGCPercent)
			debug.SetMemoryLimit(math.MaxInt64)
		})
	}
}

// sentinel is an object nothing refers to, so the first collection finds
// it unreachable and runs its finalizer. It is larger than the 16 bytes
// below which the allocator packs objects together (whose finalizers may
// never run).
type sentinel struct{ _ [32]byte }

// onFirstCollection runs fn (on the finalizer goroutine) after the first
// garbage collection.
func onFirstCollection(fn func()) {
	runtime.SetFinalizer(new(sentinel), func(*sentinel) { fn() })
}
