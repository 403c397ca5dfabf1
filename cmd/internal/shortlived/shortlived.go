// Package shortlived tunes the garbage collector for a command that lives
// tens of milliseconds and allocates a few tens of MiB in all. Imported for
// its side effect (like go.uber.org/automaxprocs), it turns the collector
// off up to a memory limit, so such a run collects never rather than two
// or three times; a run that nears the limit collects as usual. GOGC and
// GOMEMLIMIT in the environment still win.
//
// It does this in init, not in main, because the other packages' init
// functions allocate too (santhosh-tekuri/jsonschema alone about 1.7 MB)
// and used to trigger a collection before main. The package imports only
// the standard library, so Go's initialization order (ready packages by
// import path) runs it early; if it ran later it would only save less.
package shortlived

import (
	"os"
	"runtime/debug"
)

// MemoryLimit is the heap size at which a run collects after all: far
// above what one spec needs (about 30 MiB resident), low enough that a
// runaway input cannot take the machine's memory.
const MemoryLimit = 256 << 20

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(-1)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
