package shortlived

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestSettings checks what init left in force in this process: no
// collection by percentage and the memory limit, unless the environment
// chose otherwise.
func TestSettings(t *testing.T) {
	if os.Getenv("GOGC") == "" {
		pct := debug.SetGCPercent(-1)
		if pct != -1 {
			t.Errorf("GC percent %d after init, want -1 (off)", pct)
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if got := debug.SetMemoryLimit(-1); got != MemoryLimit {
			t.Errorf("memory limit %d after init, want %d", got, MemoryLimit)
		}
	}
}

// TestDefaultPacingAfterFirstCollection: once the run has collected (it
// reached MemoryLimit; runtime.GC stands in for that here), the collector
// paces itself as by default and the limit is lifted. It runs after
// TestSettings, whose settings it changes.
func TestDefaultPacingAfterFirstCollection(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOGC or GOMEMLIMIT is set: the package leaves the collector alone")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		pct := debug.SetGCPercent(-1)
		debug.SetGCPercent(pct)
		if pct == DefaultGCPercent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d after a collection, want %d", pct, DefaultGCPercent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory limit %d after a collection, want none", got)
	}
}
