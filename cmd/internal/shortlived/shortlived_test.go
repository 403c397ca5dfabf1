package shortlived

import (
	"os"
	"runtime/debug"
	"testing"
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
