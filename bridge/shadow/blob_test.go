package shadow

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// The snapshot holds each content's hash and size, never its bytes: two
// projections that differ only in how large their files are give
// snapshots of the same size.
func TestSnapshotSizeIndependentOfContentSize(t *testing.T) {
	sizeFor := func(fileSize int) int {
		l := &log{t: t}
		for i := range 20 {
			content := bytes.Repeat([]byte{byte('a' + i)}, fileSize)
			l.put(fmt.Sprintf("dir/f%02d.bin", i), string(content))
		}
		p := newP(Options{})
		replay(t, p, l.events)
		b, err := p.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	small, large := sizeFor(100), sizeFor(1<<20)
	// Only the sizes' digits differ: in the blob table (a varint: 1 byte
	// for 100, 3 for 1 MiB), in events/ ("size":100 or 1048576) and in
	// the agent's content usage (one varint).
	if large-small > 20*(2+4)+8 || large > 64<<10 {
		t.Fatalf("snapshot of 20 files: %d bytes at 100 B each, %d bytes at 1 MiB each", small, large)
	}
}

// A snapshot of the layout before blobs (version 1) is refused with a
// message that says what happens instead.
func TestSnapshotVersion1Refused(t *testing.T) {
	p := newP(Options{})
	old := binary.AppendUvarint(nil, 1)
	old = append(old, make([]byte, 16)...)
	err := p.RestoreSnapshot(old)
	if err == nil || !strings.Contains(err.Error(), "layout version 1") || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("version 1 snapshot: %v", err)
	}
}

// Open checks that the store holds the content; ReadAt never reads past
// the version's size.
func TestOpenAndReadAt(t *testing.T) {
	l := &log{t: t}
	l.put("a.txt", "hello, world")
	l.put("empty", "")
	// A version whose content the store never received.
	l.add(TypeFileModified, FileModified{Path: "lost", SHA256: fmt.Sprintf("%x", store.NewBlob([]byte("never stored")).Sum()), Size: 12})
	p := newP(Options{})
	replay(t, p, l.events)
	v := p.Current()

	f, err := v.Open("a.txt")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if n, err := f.ReadAt(buf, 7); n != 5 || err != nil || string(buf) != "world" {
		t.Errorf("ReadAt(7) = %d %v %q", n, err, buf[:n])
	}
	if n, err := f.ReadAt(make([]byte, 100), 10); n != 2 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d %v", n, err)
	}
	if n, err := f.ReadAt(buf, 12); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(size) = %d %v", n, err)
	}
	if _, err := f.ReadAt(buf, -1); err == nil {
		t.Error("negative offset accepted")
	}
	if f, err := v.Open("empty"); err != nil || f.Size != 0 {
		t.Errorf("empty file: %+v %v", f, err)
	}
	if _, err := v.Open("lost"); !errors.Is(err, ErrMissingContent) {
		t.Errorf("version without content: %v, want ErrMissingContent", err)
	}
	if _, err := v.Open("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v, want ErrNotFound", err)
	}
	if _, err := New(Options{}).Current().Open("a.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty projection: %v", err)
	}
	// Without a content store, metadata still works and reading fails clearly.
	bare := New(Options{})
	replay(t, bare, l.events[:1])
	if _, err := bare.Current().Open("a.txt"); !errors.Is(err, ErrMissingContent) {
		t.Errorf("no content store: %v", err)
	}
}

// An upgrade: events of the previous version carry their content inline.
// The projection applies them (keeping no content), MigrateInline moves
// the contents into the store's blobs, once, and everything reads back;
// the next replay finds them there.
func TestMigrateInline(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	big := strings.Repeat("old content ", 200_000) // 2.4 MB: more than one page
	contents := map[string]string{"a.txt": "first", "b/big.bin": big, "empty": "", "c.txt": "first"}
	var evs []store.Event
	for _, path := range []string{"a.txt", "b/big.bin", "empty", "c.txt"} {
		raw := mustJSON(t, legacyPayload(path, contents[path]))
		evs = append(evs, store.Event{Type: TypeFileModified, AggregateID: path, Data: raw})
	}
	newer, err := ModifiedEvent("d.txt", "builder", []byte("after the upgrade"))
	if err != nil {
		t.Fatal(err)
	}
	evs = append(evs, newer)
	if _, err := st.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	contents["d.txt"] = "after the upgrade"

	replayStore := func() *Projection {
		p := New(Options{Blobs: st})
		if err := st.ReadFrom(0, func(e store.Event) error { return p.Apply(e) }); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := replayStore()
	if _, err := p.Current().Open("b/big.bin"); !errors.Is(err, ErrMissingContent) {
		t.Fatalf("before the migration: %v", err)
	}
	n, size, err := p.MigrateInline(st)
	if err != nil || n != 2 || size != int64(len("first")+len(big)) {
		t.Fatalf("MigrateInline = %d, %d, %v; want 2 contents (the same content twice is one, empty is none)", n, size, err)
	}
	if diff := treeDiff(contents, tree(p.Current())); diff != "" {
		t.Fatal(diff)
	}
	// Run again, and on a fresh replay: nothing left to move.
	if n, _, err := p.MigrateInline(st); n != 0 || err != nil {
		t.Fatalf("second MigrateInline = %d, %v", n, err)
	}
	q := replayStore()
	if n, _, err := q.MigrateInline(st); n != 0 || err != nil {
		t.Fatalf("MigrateInline after a restart = %d, %v", n, err)
	}
	if diff := treeDiff(contents, tree(q.Current())); diff != "" {
		t.Fatal(diff)
	}
	// The ring shows no old content.
	for _, re := range q.Recent() {
		if bytes.Contains(re.JSON, []byte("content")) {
			t.Fatalf("events/ shows content: %s", re.JSON)
		}
	}
}

func treeDiff(want, got map[string]string) string {
	var b strings.Builder
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			fmt.Fprintf(&b, "%s: got %.20q (present %v), want %.20q\n", k, g, ok, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "%s: unexpected\n", k)
		}
	}
	return b.String()
}
