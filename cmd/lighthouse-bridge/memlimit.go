package main

import (
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// softMemoryRatio is the part of the process's memory limit given to the
// Go runtime as its soft limit: the rest is for what the runtime does not
// count (stacks of goroutines in system calls, cgo, the kernel's page
// cache charged to the cgroup is reclaimable anyway).
const softMemoryRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit
// (debug.SetMemoryLimit) to 90% of the process's memory limit:
// LIGHTHOUSE_MEMORY_LIMIT when set (configured, in bytes), else the
// limit of the process's cgroup (v1 or v2, read by automemlimit's
// FromCgroup). Near it the garbage collector runs harder, so garbage
// never takes the process to the kernel's limit: without it the heap may
// reach twice the live data (GOGC=100) before a collection, and the
// bridge's bounds (bytes in flight, streams, shadow index, coordination
// state) bound the live data only. A GOMEMLIMIT in the environment is the
// Go runtime's own setting, applied before main, and is left as it is.
// It returns the soft limit and where it came from ("" when none).
func setMemoryLimit(configured int64, cgroup func() (uint64, error), log *slog.Logger) (int64, string) {
	if cur := debug.SetMemoryLimit(-1); cur != math.MaxInt64 {
		log.Info("Go soft memory limit already set (GOMEMLIMIT)", "bytes", cur)
		return cur, "GOMEMLIMIT"
	}
	limit, source := configured, "LIGHTHOUSE_MEMORY_LIMIT"
	if limit <= 0 {
		n, err := cgroup()
		if err != nil || n == 0 || n > math.MaxInt64/2 {
			log.Warn("no memory limit known (LIGHTHOUSE_MEMORY_LIMIT unset, no cgroup limit): the Go runtime has no soft memory limit", "error", errString(err))
			return 0, ""
		}
		limit, source = int64(n), "cgroup"
	}
	soft := int64(float64(limit) * softMemoryRatio)
	debug.SetMemoryLimit(soft)
	log.Info("Go soft memory limit set", "bytes", soft, "memory_limit", limit, "from", source)
	return soft, source
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// cgroupMemoryLimit is the memory limit of the process's cgroup.
func cgroupMemoryLimit() (uint64, error) { return memlimit.FromCgroup() }
