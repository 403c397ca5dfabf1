package server

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// stallEvents is the size of the log the stall benchmark starts on (the
// restart benchmark's size); LIGHTHOUSE_BENCH_STALL_EVENTS overrides it.
func stallEvents() int {
	if n, err := strconv.Atoi(os.Getenv("LIGHTHOUSE_BENCH_STALL_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// applyPathOnly hides a component's CaptureSnapshot, so the snapshotter
// encodes it with MarshalSnapshot on the apply path: how every snapshot
// was taken before the issue #4 performance pass.
type applyPathOnly struct{ snapshot.Component }

// BenchmarkSnapshotStall measures what a snapshot costs the appends that
// run while it is taken, on a bridge whose state is the restart fixture's
// (1,000,000 events, 900,000 shadow versions). Three ways, in the same
// run, on the same store: no snapshots (baseline), snapshots encoded on
// the apply path (before), and captured on the apply path then encoded
// off it (now). 16 clients append shadow file versions through the store
// with its projections attached; a snapshot is taken every 10,000 events,
// so run it for a multiple of that:
//
//	go test -run '^$' -bench SnapshotStall -benchtime 30000x ./bridge/server
//
// max_ms is the slowest append; snapshot_ms the longest time one snapshot
// held the apply path (snapshotter.captureMax).
func BenchmarkSnapshotStall(b *testing.B) {
	cfg := testConfig(b.TempDir())
	st, err := store.Open(cfg.EventStorePath, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	n := stallEvents()
	appendShadowEvents(b, st, 0, n)
	st.Close()
	for _, mode := range []struct {
		name      string
		every     int
		applyPath bool
	}{{"off", -1, false}, {"apply-path", DefaultSnapshotEvery, true}, {"captured", DefaultSnapshotEvery, false}} {
		b.Run(mode.name, func(b *testing.B) {
			br, err := New(cfg, Options{SnapshotEvery: mode.every, Logger: quietLog()})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			if mode.applyPath {
				for i, c := range br.snapComps {
					br.snapComps[i] = applyPathOnly{c}
				}
			}
			if err := br.prepare(0, br.projections); err != nil {
				b.Fatal(err)
			}
			defer br.stopParts()
			stallClients(b, br.Store())
			if br.snapper != nil {
				br.snapper.mu.Lock()
				b.ReportMetric(float64(br.snapper.captureMax.Microseconds())/1000, "snapshot_ms")
				br.snapper.mu.Unlock()
			}
		})
	}
}

// stallClients appends b.N shadow file versions from 16 goroutines and
// reports throughput, p50, p99 and the maximum latency.
func stallClients(b *testing.B, st *store.Store) {
	const clients = 16
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	base := int(st.LastSequence())
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				p := fmt.Sprintf("services/svc%02d/pkg%02d/file%02d.go", i%10, (i/10)%10, (i/100)%100)
				ev, _ := shadow.ModifiedEvent(p, "bench", []byte(fmt.Sprintf("package pkg\n\n// stall revision %d of %s\n", int(i)+base, p)))
				t0 := time.Now()
				if _, err := st.Append(context.Background(), ev); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "events/s")
	b.ReportMetric(ms(all[len(all)/2]), "p50_ms")
	b.ReportMetric(ms(all[int(float64(len(all)-1)*0.99)]), "p99_ms")
	b.ReportMetric(ms(all[len(all)-1]), "max_ms")
	b.ReportMetric(0, "ns/op")
}
