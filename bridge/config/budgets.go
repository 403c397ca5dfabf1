package config

import (
	"fmt"
	"strconv"
	"strings"
)

// loadBudgets reads the bounds on what the Bridge keeps (the shadow's
// index, coordination state, the store's free space, a query's scan, the
// memory limit) into c, appending each problem to errs.
func loadBudgets(getenv func(string) string, c *Config, errs *[]error) {
	num := func(name string, def, lo, hi int64) int64 {
		n, err := byteCount(getenv, name, def, lo, hi)
		if err != nil {
			*errs = append(*errs, err)
		}
		return n
	}
	c.ShadowMaxPathDepth = int(num(EnvShadowMaxPathDepth, DefaultShadowMaxPathDepth, 1, MaxShadowPathDepth))
	c.ShadowMaxIndexBytes = num(EnvShadowMaxIndexBytes, DefaultShadowMaxIndexBytes, 1<<20, MaxShadowIndexBytes)
	c.ShadowAgentShare = int(num(EnvShadowAgentShare, DefaultShadowAgentShare, 1, 100))
	c.CoordMaxBytes = num(EnvCoordMaxBytes, DefaultCoordMaxBytes, 1<<20, MaxCoordBytes)
	c.CoordMaxAgentBytes = num(EnvCoordMaxAgentBytes, min(DefaultCoordMaxAgentBytes, c.CoordMaxBytes), 1<<20, MaxCoordBytes)
	if c.CoordMaxAgentBytes > c.CoordMaxBytes {
		*errs = append(*errs, fmt.Errorf("%s (%d) must not exceed %s (%d)", EnvCoordMaxAgentBytes, c.CoordMaxAgentBytes, EnvCoordMaxBytes, c.CoordMaxBytes))
	}
	c.EventStoreMinFree = num(EnvEventStoreMinFree, DefaultEventStoreMinFree, 0, MaxEventStoreFree)
	c.QueryScanLimit = int(num(EnvQueryScanLimit, DefaultQueryScanLimit, 100, MaxQueryScanLimit))
	c.MemoryLimit = 0
	if v := strings.TrimSpace(getenv(EnvMemoryLimit)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < MinMemoryLimit || n > MaxMemoryLimit {
			*errs = append(*errs, fmt.Errorf("%s must be a number of bytes between %d and %d (a plain decimal integer; unset: the cgroup's limit), got %q", EnvMemoryLimit, MinMemoryLimit, int64(MaxMemoryLimit), v))
		} else {
			c.MemoryLimit = n
		}
	}
}

// Bounds of LIGHTHOUSE_MEMORY_LIMIT: below 64 MiB the Bridge's own
// buffers do not fit; above 1 PiB is no machine's.
const (
	MinMemoryLimit = 64 << 20
	MaxMemoryLimit = 1 << 50
)
