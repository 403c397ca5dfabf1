package snapshot_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// events makes n synthetic events over files paths: mostly writes, some
// deletes, some events of other types, as the server's log would hold.
func events(tb testing.TB, n, paths int, seed uint64) []store.Event {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([]store.Event, 0, n)
	live := make([]bool, paths)
	for i := range n {
		seq := uint64(i + 1)
		ev := store.Event{Sequence: seq, ID: fmt.Sprint(seq), AgentID: "builder", Timestamp: t0.Add(time.Duration(seq) * time.Millisecond)}
		k := r.IntN(paths)
		p := fmt.Sprintf("pkg%03d/file%04d.go", k%100, k)
		var data any
		switch {
		case r.IntN(20) == 0:
			ev.Type, data = "agent_heartbeat", map[string]int{"load": r.IntN(100)}
		case live[k] && r.IntN(10) == 0:
			fd, _ := shadow.NewFileDeleted(p)
			ev.Type, data, live[k] = shadow.TypeFileDeleted, fd, false
		default:
			fm, _, _ := shadow.NewFileModified(p, fmt.Appendf(nil, "package pkg\n\n// version %d of %s\n", seq, p))
			ev.Type, data, live[k] = shadow.TypeFileModified, fm, true
		}
		raw, err := json.Marshal(data)
		if err != nil {
			tb.Fatal(err)
		}
		ev.Data = raw
		out = append(out, ev)
	}
	return out
}

// idsOf is the snapshot.LogIdentity of a log holding evs.
func idsOf(evs []store.Event) snapshot.LogIdentity {
	return func(seq uint64) (string, error) {
		if seq == 0 || seq > uint64(len(evs)) {
			return "", fmt.Errorf("no event %d", seq)
		}
		return evs[seq-1].ID, nil
	}
}

func apply(tb testing.TB, p *shadow.Projection, evs []store.Event) {
	for _, ev := range evs {
		if err := p.Apply(ev); err != nil {
			tb.Fatal(err)
		}
	}
}

// files is a view's files and the identity of each one's content (its
// SHA-256 and size: contents are blobs of the event store, not needed
// here).
func files(v shadow.View) map[string]string {
	out := map[string]string{}
	v.Walk(func(f shadow.File) { out[f.Path] = fmt.Sprintf("%x:%d", f.SHA256, f.Size) })
	return out
}

// TestRestartEquivalence: snapshot at k, then a restart that restores it
// and replays the tail, equals a full replay, at every sequence.
func TestRestartEquivalence(t *testing.T) {
	evs := events(t, 3000, 80, 1)
	full := shadow.New(shadow.Options{RecentEvents: 100})
	apply(t, full, evs)

	for _, k := range []int{1, 1234, 2999} {
		s, err := snapshot.Open(t.TempDir(), 2)
		if err != nil {
			t.Fatal(err)
		}
		before := shadow.New(shadow.Options{RecentEvents: 100})
		apply(t, before, evs[:k])
		if _, err := s.Save(uint64(k), evs[k-1].ID, before); err != nil {
			t.Fatal(err)
		}

		restarted := shadow.New(shadow.Options{RecentEvents: 100})
		seq, warnings, err := s.Restore(uint64(len(evs)), idsOf(evs), restarted)
		if err != nil || seq != uint64(k) || len(warnings) != 0 {
			t.Fatalf("k=%d: Restore = %d, %v, %v", k, seq, warnings, err)
		}
		apply(t, restarted, evs[seq:])

		for at := uint64(0); at <= uint64(len(evs)); at += 97 {
			a, _ := full.At(at)
			b, _ := restarted.At(at)
			if diff := cmp.Diff(files(a), files(b)); diff != "" {
				t.Fatalf("k=%d: At(%d) (-full +restarted):\n%s", k, at, diff)
			}
		}
		if diff := cmp.Diff(files(full.Current()), files(restarted.Current())); diff != "" {
			t.Errorf("k=%d: current differs:\n%s", k, diff)
		}
		if diff := cmp.Diff(full.Recent(), restarted.Recent()); diff != "" {
			t.Errorf("k=%d: recent events differ:\n%s", k, diff)
		}
		if diff := cmp.Diff(full.Changes(), restarted.Changes()); diff != "" {
			t.Errorf("k=%d: history differs:\n%s", k, diff)
		}
	}
}

// TestRestartCorruptSnapshotFallsBack: a damaged newest snapshot is
// skipped with a warning and the previous one is used.
func TestRestartCorruptSnapshotFallsBack(t *testing.T) {
	evs := events(t, 500, 30, 2)
	s, _ := snapshot.Open(t.TempDir(), 5)
	p := shadow.New(shadow.Options{})
	apply(t, p, evs[:200])
	s.Save(200, evs[199].ID, p)
	apply(t, p, evs[200:400])
	snap, _ := s.Save(400, evs[399].ID, p)
	b, _ := os.ReadFile(snap.Path)
	b[len(b)/2] ^= 0xff
	os.WriteFile(snap.Path, b, 0o600)

	restarted := shadow.New(shadow.Options{})
	seq, warnings, err := s.Restore(500, idsOf(evs), restarted)
	if err != nil || seq != 200 || len(warnings) != 1 {
		t.Fatalf("Restore = %d, %v, %v; want 200 with one warning", seq, warnings, err)
	}
	apply(t, restarted, evs[seq:])
	full := shadow.New(shadow.Options{})
	apply(t, full, evs)
	if diff := cmp.Diff(files(full.Current()), files(restarted.Current())); diff != "" {
		t.Errorf("(-full +restarted):\n%s", diff)
	}
	// No snapshot at all: Restore says replay everything.
	empty, _ := snapshot.Open(filepath.Join(t.TempDir(), "none"), 1)
	if seq, _, err := empty.Restore(500, idsOf(evs), shadow.New(shadow.Options{})); seq != 0 || err != nil {
		t.Errorf("empty store: %d, %v", seq, err)
	}
}

// BenchmarkRestart1M measures projection rebuild at start-up with
// 1,000,000 events over 10,000 files: full replay versus restoring the
// newest snapshot (read, verify, decode) plus a 1,000-event tail, in the
// same run. Event decoding from bbolt is not included (the store is not
// part of this package); both paths start from decoded store.Events.
func BenchmarkRestart1M(b *testing.B) {
	const n, tail = 1_000_000, 1_000
	evs := events(b, n, 10_000, 3)
	s, err := snapshot.Open(b.TempDir(), 1)
	if err != nil {
		b.Fatal(err)
	}
	base := shadow.New(shadow.Options{})
	apply(b, base, evs[:n-tail])
	snap, err := s.Save(n-tail, evs[n-tail-1].ID, base)
	if err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(snap.Path)
	base = nil
	b.ResetTimer()
	var fullD, snapD time.Duration
	for b.Loop() {
		start := time.Now()
		p := shadow.New(shadow.Options{})
		apply(b, p, evs)
		fullD += time.Since(start)

		start = time.Now()
		q := shadow.New(shadow.Options{})
		seq, _, err := s.Restore(n, idsOf(evs), q)
		if err != nil || seq != n-tail {
			b.Fatal(seq, err)
		}
		apply(b, q, evs[seq:])
		snapD += time.Since(start)
		if p.LastSeq() != q.LastSeq() {
			b.Fatal("different end states")
		}
	}
	fullMS := float64(fullD.Milliseconds()) / float64(b.N)
	snapMS := float64(snapD.Milliseconds()) / float64(b.N)
	b.ReportMetric(fullMS, "full-replay-ms")
	b.ReportMetric(snapMS, "snapshot+tail-ms")
	b.ReportMetric(fullMS/snapMS, "speedup")
	b.ReportMetric(float64(fi.Size())/(1<<20), "snapshot-MiB")
}
