package server

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Snapshots are captured on the apply path and encoded later while
// appends go on: every file written must still hold exactly the shadow
// state at its own sequence, no event more or less.
func TestSnapshotsAreTheStateAtTheirSequence(t *testing.T) {
	cfg := testConfig(t.TempDir())
	br, err := New(cfg, Options{SnapshotEvery: 25, SnapshotKeep: 1000, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	if err := br.prepare(0, br.projections); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				p := fmt.Sprintf("w%d/d%d/f%d.go", w, i%3, i%7)
				ev, err := shadow.ModifiedEvent(p, "builder", []byte(fmt.Sprintf("writer %d rev %d", w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := br.Store().Append(context.Background(), ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := br.snapper.close(context.Background()); err != nil { // waits for the last write
		t.Fatal(err)
	}
	files := snapshotFiles(t, cfg)
	if len(files) < 2 {
		t.Fatalf("only %d snapshots written during 400 appends every 25", len(files))
	}
	for _, f := range files {
		snap, err := snapshot.Read(f)
		if err != nil {
			t.Fatal(err)
		}
		if id, err := br.eventIDAt(snap.Seq); err != nil || snap.LogID != id {
			t.Fatalf("snapshot at %d has log identity %q, the store's event there is %q (%v)", snap.Seq, snap.LogID, id, err)
		}
		want := shadow.New(shadow.Options{})
		err = br.Store().ReadFrom(0, func(e store.Event) error {
			if e.Sequence > snap.Seq {
				return store.ErrStop
			}
			return want.Apply(e)
		})
		if err != nil {
			t.Fatal(err)
		}
		wantBytes, _ := want.MarshalSnapshot()
		if !bytes.Equal(snap.Sections[shadow.SnapshotSection], wantBytes) {
			t.Fatalf("snapshot at %d is not the shadow state at %d", snap.Seq, snap.Seq)
		}
	}
}
