package main

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

// TestSetMemoryLimit: the soft limit is 90% of LIGHTHOUSE_MEMORY_LIMIT,
// else of the cgroup's limit; with neither none is set; a limit already
// set (GOMEMLIMIT) is kept.
func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cg := func(n uint64, err error) func() (uint64, error) { return func() (uint64, error) { return n, err } }
	for _, c := range []struct {
		name       string
		configured int64
		cgroup     func() (uint64, error)
		want       int64
		from       string
	}{
		{"configured", 1 << 30, cg(0, errors.New("never asked")), 966367641, "LIGHTHOUSE_MEMORY_LIMIT"},
		{"cgroup", 0, cg(512<<20, nil), 483183820, "cgroup"},
		{"none", 0, cg(0, errors.New("no cgroup")), math.MaxInt64, ""},
		{"unlimited cgroup", 0, cg(math.MaxUint64, nil), math.MaxInt64, ""},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		soft, from := setMemoryLimit(c.configured, c.cgroup, log)
		if got := debug.SetMemoryLimit(-1); got != c.want || from != c.from || (from != "" && soft != c.want) {
			t.Errorf("%s: runtime limit %d (returned %d from %q), want %d from %q", c.name, got, soft, from, c.want, c.from)
		}
	}
	debug.SetMemoryLimit(700 << 20) // as GOMEMLIMIT=700MiB would
	if soft, from := setMemoryLimit(1<<30, cg(0, nil), log); soft != 700<<20 || from != "GOMEMLIMIT" || debug.SetMemoryLimit(-1) != 700<<20 {
		t.Errorf("with GOMEMLIMIT set: %d from %q", soft, from)
	}
}
