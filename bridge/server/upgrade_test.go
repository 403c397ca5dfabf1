package server

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// unpackUpgradeFixture writes the store and snapshot of the version
// before shadow blobs (testdata/upgrade-inline) into dir's event store
// and snapshot folders.
func unpackUpgradeFixture(t *testing.T, dir string) {
	t.Helper()
	for src, dst := range map[string]string{
		"events.db.gz": "events/events.db",
		"snapshot-00000000000000000006.lhsnap.gz": "snapshots/snapshot-00000000000000000006.lhsnap",
	} {
		in, err := os.Open(filepath.Join("testdata/upgrade-inline", src))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o700); err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, dst))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, zr); err != nil {
			t.Fatal(err)
		}
		out.Close()
		in.Close()
	}
}

// TestUpgradeFromInlineContentStore: a store written by the previous
// version (contents inline in its events, a format 2 snapshot whose
// shadow section copies them) opens: its old snapshot is refused with a
// warning and the log replayed, the contents move into the store's blobs
// once, every file and every version reads as before, new writes work,
// and the next restart uses a new snapshot (format 3: it records the
// log's first event) and moves nothing. With that snapshot the upgraded
// store is told from another store's log, which the old snapshot could
// not do.
func TestUpgradeFromInlineContentStore(t *testing.T) {
	dir := t.TempDir()
	unpackUpgradeFixture(t, dir)
	cfg := testConfig(dir)
	big := strings.Repeat("0123456789abcdef", 1250)
	want := map[string]string{
		"README.md":    "# upgraded project\n",
		"docs/copy.md": "# upgraded project\n",
		"src/big.bin":  big,
		"src/main.go":  "package main\n\nfunc main() {}\n",
		"empty.txt":    "",
	}
	r, logs := startOpts(t, cfg, Options{SnapshotEvery: 3})
	for _, msg := range []string{"format 2, written before shadow contents moved to the event store", "moved shadow contents of events written by an older version"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("start-up log does not say %q:\n%s", msg, logs)
		}
	}
	tok := session(t, r.url, "reader")
	check := func(url string, want map[string]string) {
		t.Helper()
		for p, c := range want {
			code, body, _ := do(t, "GET", url+"/shadow/"+p, tok, nil)
			if code != 200 || string(body) != c {
				t.Errorf("GET %s: %d %.40q, want %.40q", p, code, body, c)
			}
		}
		code, body, _ := do(t, "GET", url+"/shadow/?list", tok, nil)
		if code != 200 || strings.Count(string(body), `"path"`) != len(want) {
			t.Errorf("list: %d %s", code, body)
		}
	}
	check(r.url, want)
	// History: as of event 5 (the fifth shadow write of the old log)
	// the deleted file and the first main.go were there.
	for p, c := range map[string]string{"tmp/gone.txt": "short-lived\n", "src/main.go": "package main\n"} {
		seq := r.b.Store().LastSequence()
		found := false
		for at := uint64(1); at <= seq && !found; at++ {
			code, body, _ := do(t, "GET", fmt.Sprintf("%s/shadow/%s?at=%d", r.url, p, at), tok, nil)
			found = code == 200 && string(body) == c
		}
		if !found {
			t.Errorf("no version of %s reads %q in the history", p, c)
		}
	}
	putFile(t, r.url, tok, "after-upgrade.txt", "new")
	putFile(t, r.url, tok, "src/big.bin", big+"!")
	want["after-upgrade.txt"], want["src/big.bin"] = "new", big+"!"
	waitFor(t, "a new snapshot", func() bool { return r.b.snapper.writtenSeq() > 6 })
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}

	r2, logs2 := startOpts(t, cfg, Options{SnapshotEvery: 3})
	for _, msg := range []string{"format 2", "layout version 1", "moved shadow contents", "skipping snapshot"} {
		if strings.Contains(logs2.String(), msg) {
			t.Errorf("second start-up still says %q:\n%s", msg, logs2)
		}
	}
	if !strings.Contains(logs2.String(), "snapshot restored") {
		t.Errorf("second start-up did not restore the new snapshot:\n%s", logs2)
	}
	check(r2.url, want)
	var origin string
	r2.b.Store().ReadFrom(0, func(e store.Event) error { origin = e.ID; return store.ErrStop })
	if err := r2.shutdown(t); err != nil {
		t.Fatal(err)
	}
	seqs, err := snapshot.Sequences(cfg.SnapshotPath)
	if err != nil || len(seqs) == 0 {
		t.Fatalf("snapshots after the upgrade: %v %v", seqs, err)
	}
	newest, err := snapshot.Read(filepath.Join(cfg.SnapshotPath, fmt.Sprintf("snapshot-%020d.lhsnap", seqs[0])))
	if err != nil || newest.Format != snapshot.Format || newest.Origin == "" || newest.Origin != origin {
		t.Fatalf("newest snapshot after the upgrade: format %d, origin %q (the log's first event is %q), %v", newest.Format, newest.Origin, origin, err)
	}
	// Another store's log next to the upgraded snapshots is refused.
	other := testConfig(t.TempDir())
	o, _ := startOpts(t, other, Options{})
	putFile(t, o.url, session(t, o.url, "builder"), "README.md", "# another project\n")
	o.shutdown(t)
	other.SnapshotPath = cfg.SnapshotPath
	if err, log := serveOnce(t, other, Options{}); !errors.Is(err, snapshot.ErrNotThisLog) {
		t.Errorf("another store's log with the upgraded snapshots: Serve = %v\n%s", err, log)
	}
}
