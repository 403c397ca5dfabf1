package shadow

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

func TestHistoryAndCurrent(t *testing.T) {
	l := &log{t: t}
	l.put("README.md", "v1")          // 1
	l.put("src/main.go", "package a") // 2
	l.put("README.md", "v2")          // 3
	l.del("src/main.go")              // 4
	l.add("session_created", map[string]string{"agent": "x"})
	l.put("src/lib/x.go", "package lib") // 6
	p := newP(Options{})
	replay(t, p, l.events)

	want := map[uint64]map[string]string{
		0: {},
		1: {"README.md": "v1"},
		2: {"README.md": "v1", "src/main.go": "package a"},
		3: {"README.md": "v2", "src/main.go": "package a"},
		4: {"README.md": "v2"},
		5: {"README.md": "v2"},
		6: {"README.md": "v2", "src/lib/x.go": "package lib"},
	}
	for seq, w := range want {
		v, err := p.At(seq)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, tree(v)); diff != "" {
			t.Errorf("At(%d) (-want +got):\n%s", seq, diff)
		}
	}
	if diff := cmp.Diff(want[6], tree(p.Current())); diff != "" {
		t.Errorf("Current (-want +got):\n%s", diff)
	}
	if _, err := p.At(7); !errors.Is(err, ErrFuture) {
		t.Errorf("At(7) = %v, want ErrFuture", err)
	}
	if got := p.Changes(); !cmp.Equal(got, []uint64{1, 2, 3, 4, 6}) {
		t.Errorf("Changes = %v", got)
	}

	// Directories exist exactly while they hold a live file.
	v4, _ := p.At(4)
	if _, ok := v4.Stat("src"); ok {
		t.Error("src exists at 4, after its only file was deleted")
	}
	v2, _ := p.At(2)
	e, ok := v2.Stat("src")
	if !ok || e.Kind != KindDir || !e.ModTime.Equal(l.events[1].Timestamp) {
		t.Errorf("src at 2 = %+v, %v; want a directory created at event 2", e, ok)
	}
	root, ok := p.Current().ReadDir("")
	if !ok {
		t.Fatal("root not listable")
	}
	var names []string
	for _, e := range root {
		names = append(names, fmt.Sprintf("%s:%d:%d", e.Name, e.Kind, e.Size))
	}
	if diff := cmp.Diff([]string{"README.md:1:2", "src:2:0"}, names); diff != "" {
		t.Errorf("root listing (-want +got):\n%s", diff)
	}
	f, err := p.Current().Open("README.md")
	if err != nil || f.Seq != 3 || !f.ModTime.Equal(l.events[2].Timestamp) || f.SHA256 != sha256.Sum256([]byte("v2")) {
		t.Errorf("README.md = %+v", f)
	}
	if _, ok := p.Current().ReadDir("README.md"); ok {
		t.Error("ReadDir of a file succeeded")
	}
}

func TestApplyRejectsWithoutChangingFiles(t *testing.T) {
	l := &log{t: t}
	l.put("a", "file a")
	l.put("d/x", "x")
	p := newP(Options{})
	replay(t, p, l.events)
	before := tree(p.Current())

	bad := []struct {
		name string
		ev   store.Event
		want error
	}{
		{"delete missing", l.del("nope"), ErrNotFound},
		{"file under a file", l.put("a/b", "x"), ErrConflict},
		{"file over a directory", l.put("d", "x"), ErrConflict},
		{"non-canonical path", l.add(TypeFileModified, FileModified{Path: "./a", SHA256: fmt.Sprintf("%x", sha256.Sum256(nil))}), ErrInvalidPath},
		{"escaping path", l.add(TypeFileDeleted, FileDeleted{Path: "../etc/passwd"}), ErrInvalidPath},
		{"wrong hash", l.add(TypeFileModified, FileModified{Path: "a", SHA256: "00", Size: 1}), nil},
		{"upper-case hash", l.add(TypeFileModified, FileModified{Path: "a", SHA256: strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256([]byte("file a")))), Size: 6}), nil},
		{"negative size", l.add(TypeFileModified, FileModified{Path: "a", SHA256: fmt.Sprintf("%x", sha256.Sum256(nil)), Size: -1}), nil},
		{"size of an earlier version of the same content", l.add(TypeFileModified, FileModified{Path: "a", SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte("x"))), Size: 7}), nil},
		{"old event, wrong hash", l.add(TypeFileModified, legacyModified{Path: "a", Content: []byte("x"), SHA256: "00", Size: 1}), nil},
		{"old event, wrong size", l.add(TypeFileModified, legacyModified{Path: "a", Content: []byte("x"), SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte("x"))), Size: 7}), nil},
		{"not json", l.add(TypeFileModified, "just a string"), nil},
	}
	for _, tc := range bad {
		err := p.Apply(tc.ev)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Apply = %v, want error %v", tc.name, err, tc.want)
		}
		if p.LastSeq() != tc.ev.Sequence {
			t.Errorf("%s: LastSeq = %d, want %d (a rejected event still counts)", tc.name, p.LastSeq(), tc.ev.Sequence)
		}
	}
	if diff := cmp.Diff(before, tree(p.Current())); diff != "" {
		t.Errorf("rejected events changed files (-before +after):\n%s", diff)
	}
	if err := p.CheckWrite("a/b"); !errors.Is(err, ErrConflict) {
		t.Errorf("CheckWrite(a/b) = %v", err)
	}
	if err := p.CheckWrite("d/y"); err != nil {
		t.Errorf("CheckWrite(d/y) = %v", err)
	}
	// Old events are ignored, so replaying over a restored state is safe.
	if err := p.Apply(l.events[0]); err != nil || p.LastSeq() != uint64(len(l.events)) {
		t.Errorf("re-applying event 1: %v, LastSeq %d", err, p.LastSeq())
	}
}

func TestFileBecomesDirectory(t *testing.T) {
	l := &log{t: t}
	l.put("x", "file")
	l.del("x")
	l.put("x/y", "nested")
	p := newP(Options{})
	replay(t, p, l.events)
	v1, _ := p.At(1)
	if e, ok := v1.Stat("x"); !ok || e.Kind != KindFile {
		t.Errorf("x at 1 = %+v %v, want file", e, ok)
	}
	if e, ok := p.Current().Stat("x"); !ok || e.Kind != KindDir {
		t.Errorf("x now = %+v %v, want directory", e, ok)
	}
}

func TestBlobsShared(t *testing.T) {
	l := &log{t: t}
	content := bytes.Repeat([]byte("same"), 1000)
	for i := range 10 {
		l.put(fmt.Sprintf("copy%d", i), string(content))
	}
	p := newP(Options{})
	replay(t, p, l.events)
	if len(p.blobSize) != 1 {
		t.Errorf("%d blobs for 10 identical contents, want 1", len(p.blobSize))
	}
}

func TestRecentRing(t *testing.T) {
	l := &log{t: t}
	for i := range 7 {
		l.put(fmt.Sprintf("f%d", i), "secret content")
	}
	p := newP(Options{RecentEvents: 3})
	replay(t, p, l.events)
	rec := p.Recent()
	if len(rec) != 3 || rec[0].Seq != 5 || rec[2].Seq != 7 {
		t.Fatalf("Recent = %v", rec)
	}
	var got struct {
		Sequence uint64 `json:"sequence"`
		Data     map[string]any
	}
	if err := json.Unmarshal(rec[1].JSON, &got); err != nil {
		t.Fatal(err)
	}
	if got.Sequence != 6 || got.Data["path"] != "f5" || got.Data["content"] != nil {
		t.Errorf("event 6 rendered as %s", rec[1].JSON)
	}
	if _, ok := p.RecentEvent(4); ok {
		t.Error("event 4 still in a ring of 3")
	}
	if re, ok := p.RecentEvent(7); !ok || re.Seq != 7 {
		t.Error("event 7 missing")
	}
}

// randomLog makes a log of n events over a small tree with deletes,
// re-creations, identical contents and unrelated events.
func randomLog(t testing.TB, n int, seed uint64) *log {
	r := rand.New(rand.NewPCG(seed, 1))
	l := &log{t: t}
	live := map[string]bool{}
	for len(l.events) < n {
		p := fmt.Sprintf("d%d/f%d", r.IntN(4), r.IntN(12))
		switch {
		case r.IntN(10) == 0:
			l.add("agent_heartbeat", map[string]int{"n": len(l.events)})
		case live[p] && r.IntN(4) == 0:
			l.del(p)
			delete(live, p)
		default:
			l.put(p, fmt.Sprintf("content %d", r.IntN(50)))
			live[p] = true
		}
	}
	return l
}

// TestRestartEquivalence is the projection-level restart guarantee: a
// snapshot taken at k, restored, plus the tail gives the same state as a
// full replay, at every sequence.
func TestRestartEquivalence(t *testing.T) {
	l := randomLog(t, 400, 7)
	full := newP(Options{RecentEvents: 50})
	replay(t, full, l.events)

	for _, k := range []int{0, 1, 137, 399, 400} {
		part := newP(Options{RecentEvents: 50})
		replay(t, part, l.events[:k])
		snap, err := part.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored := newP(Options{RecentEvents: 50})
		if err := restored.RestoreSnapshot(snap); err != nil {
			t.Fatalf("k=%d: restore: %v", k, err)
		}
		replay(t, restored, l.events[k:])

		for seq := uint64(0); seq <= uint64(len(l.events)); seq += 7 {
			a, _ := full.At(seq)
			b, _ := restored.At(seq)
			if diff := cmp.Diff(tree(a), tree(b)); diff != "" {
				t.Fatalf("k=%d: At(%d) differs (-full +restored):\n%s", k, seq, diff)
			}
		}
		if diff := cmp.Diff(full.Recent(), restored.Recent()); diff != "" {
			t.Errorf("k=%d: recent ring differs:\n%s", k, diff)
		}
		if diff := cmp.Diff(full.Changes(), restored.Changes()); diff != "" {
			t.Errorf("k=%d: changes differ:\n%s", k, diff)
		}
		a, _ := full.MarshalSnapshot()
		b, _ := restored.MarshalSnapshot()
		if !bytes.Equal(a, b) {
			t.Errorf("k=%d: snapshots of full replay and restore+tail differ", k)
		}
	}
}

func TestRestoreRejectsDamage(t *testing.T) {
	l := randomLog(t, 100, 3)
	p := newP(Options{})
	replay(t, p, l.events)
	snap, _ := p.MarshalSnapshot()
	before := tree(p.Current())
	for _, n := range []int{0, 1, len(snap) / 2, len(snap) - 1} {
		if err := p.RestoreSnapshot(snap[:n]); err == nil {
			t.Errorf("restore of %d/%d bytes succeeded", n, len(snap))
		}
	}
	if err := p.RestoreSnapshot(append(snap[:len(snap):len(snap)], 0)); err == nil {
		t.Error("restore with trailing garbage succeeded")
	}
	if diff := cmp.Diff(before, tree(p.Current())); diff != "" {
		t.Errorf("failed restores changed the projection:\n%s", diff)
	}
}

// TestConcurrentReaders runs readers against Apply; run with -race.
func TestConcurrentReaders(t *testing.T) {
	l := randomLog(t, 2000, 11)
	p := newP(Options{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cur := p.Current()
				cur.Walk(func(File) {})
				cur.ReadDir("d1")
				if v, err := p.At(p.LastSeq() / 2); err == nil {
					if f, err := v.Open("d0/f1"); err == nil {
						f.ReadAt(make([]byte, 8), 0)
					}
				}
				p.Recent()
			}
		}()
	}
	replay(t, p, l.events)
	close(stop)
	wg.Wait()
}

// ReadDirAfter reads a listing in parts that join up to ReadDir, and a
// part read after new entries arrive continues after the last name read.
func TestReadDirAfter(t *testing.T) {
	l := &log{t: t}
	for i := range 10 {
		l.put(fmt.Sprintf("d/f%02d", i*2), "x")
	}
	p := newP(Options{})
	replay(t, p, l.events)
	all, _ := p.Current().ReadDir("d")
	var got []Entry
	after := ""
	for {
		part, ok := p.Current().ReadDirAfter("d", after, 3)
		if !ok {
			t.Fatal("d not a directory")
		}
		if len(part) == 0 {
			break
		}
		got = append(got, part...)
		after = part[len(part)-1].Name
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Fatalf("parts differ from the whole listing:\n%s", diff)
	}
	part, _ := p.Current().ReadDirAfter("d", "f05", 2) // f05 does not exist
	if len(part) != 2 || part[0].Name != "f06" || part[1].Name != "f08" {
		t.Fatalf("after a missing name: %+v", part)
	}
	replay(t, p, []store.Event{l.put("d/f07", "new"), l.put("d/f03", "new")})
	part, _ = p.Current().ReadDirAfter("d", "f06", 2)
	if len(part) != 2 || part[0].Name != "f07" || part[1].Name != "f08" {
		t.Fatalf("after new entries: %+v", part)
	}
	if _, ok := p.Current().ReadDirAfter("nope", "", 5); ok {
		t.Fatal("a missing directory listed")
	}
}
