package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// restartEvents is the size of the log the restart benchmark starts on;
// LIGHTHOUSE_BENCH_RESTART_EVENTS overrides it for a quick local run.
func restartEvents() int {
	if n, err := strconv.Atoi(os.Getenv("LIGHTHOUSE_BENCH_RESTART_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// restartTail is how many events follow the newest snapshot: the default
// snapshot interval, the worst tail a restart replays.
const restartTail = DefaultSnapshotEvery

// appendShadowEvents appends n events in store-sized batches: nine in ten
// are file_modified of one of 10,000 paths with a distinct ~80-byte
// content (so every version is kept), one in ten a generic agent event.
func appendShadowEvents(tb testing.TB, st *store.Store, first, n int) {
	tb.Helper()
	batch := make([]store.Event, 0, store.MaxBatch)
	flush := func() {
		if _, err := st.Append(context.Background(), batch...); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := first; i < first+n; i++ {
		var ev store.Event
		if i%10 == 9 {
			ev = store.Event{Type: "task_progress", AgentID: "builder-" + strconv.Itoa(i%7),
				Data: json.RawMessage(fmt.Sprintf(`{"task":"t-%d","step":%d,"note":"compiled and tested"}`, i%1000, i))}
		} else {
			p := fmt.Sprintf("services/svc%02d/pkg%02d/file%02d.go", i%10, (i/10)%10, (i/100)%100)
			var err error
			ev, err = shadow.ModifiedEvent(p, "builder-"+strconv.Itoa(i%7), []byte(fmt.Sprintf("package pkg\n\n// revision %d of %s\nvar Rev = %d\n", i, p, i)))
			if err != nil {
				tb.Fatal(err)
			}
		}
		batch = append(batch, ev)
		if len(batch) == store.MaxBatch {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// restartFixture builds a store of n events with a snapshot taken
// restartTail events before its end, as a bridge snapshotting every
// restartTail events would leave it.
func restartFixture(b *testing.B, dir string, n int) config.Config {
	cfg := testConfig(dir)
	st, err := store.Open(cfg.EventStorePath, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	appendShadowEvents(b, st, 0, n-restartTail)
	st.Close()
	br, err := New(cfg, Options{SnapshotEvery: -1, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.prepare(0, br.projections); err != nil {
		b.Fatal(err)
	}
	snaps, err := snapshot.Open(cfg.SnapshotPath, DefaultSnapshotKeep)
	if err != nil {
		b.Fatal(err)
	}
	logID, err := br.eventIDAt(br.Store().LastSequence())
	if err != nil {
		b.Fatal(err)
	}
	snap, err := snaps.Save(br.Store().LastSequence(), logID, br.snapComps...)
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Close(); err != nil {
		b.Fatal(err)
	}
	st, err = store.Open(cfg.EventStorePath, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	appendShadowEvents(b, st, n-restartTail, restartTail)
	st.Close()
	fi, _ := os.Stat(cfg.EventStorePath + "/" + store.FileName)
	sf, _ := os.Stat(snap.Path)
	b.Logf("fixture: %d events, store %d MiB, snapshot at %d is %d MiB", n, fi.Size()>>20, snap.Seq, sf.Size()>>20)
	return cfg
}

// restartOnce opens a bridge on cfg and runs start-up up to serving, and
// returns how long that took and the projection it ended with.
func restartOnce(b *testing.B, cfg config.Config, opts Options) (time.Duration, []byte) {
	runtime.GC()
	opts.Logger = quietLog()
	t0 := time.Now()
	br, err := New(cfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := br.prepare(0, br.projections); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	b.StopTimer()
	// Log what encoding a whole snapshot costs at this size (done off
	// the apply path since the issue #4 performance pass; see
	// BenchmarkSnapshotStall).
	m0 := time.Now()
	for _, c := range br.snapComps {
		if _, err := c.MarshalSnapshot(); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("encoding a snapshot of this state: %v", time.Since(m0))
	state, err := br.Shadow().MarshalSnapshot()
	if err != nil {
		b.Fatal(err)
	}
	br.stopParts()
	br.Close()
	b.StartTimer()
	return took, state
}

// BenchmarkRestart1M measures start-up on a 1,000,000-event log both ways
// in the same run: a full replay (snapshots disabled) and the newest
// snapshot plus a 10,000-event tail. It checks that both give the same
// projection. Goal: with snapshot ≤ 1 s and ≥ 10x faster. Run with
//
//	go test -run '^$' -bench Restart1M -benchtime 3x ./bridge/server
func BenchmarkRestart1M(b *testing.B) {
	cfg := restartFixture(b, b.TempDir(), restartEvents())
	var full, snap time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tf, fullState := restartOnce(b, cfg, Options{SnapshotEvery: -1})
		ts, snapState := restartOnce(b, cfg, Options{})
		if string(fullState) != string(snapState) {
			b.Fatal("snapshot + tail gives a different projection than a full replay")
		}
		full += tf
		snap += ts
	}
	n := float64(b.N)
	b.ReportMetric(full.Seconds()/n, "full-replay-s")
	b.ReportMetric(snap.Seconds()/n, "with-snapshot-s")
	b.ReportMetric(full.Seconds()/snap.Seconds(), "speedup-x")
}
