package shadow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// FuzzRestoreSnapshot: any bytes either restore or are refused, without
// a panic or an allocation the input cannot pay for; what restores
// encodes back to the same bytes, and every view of it can be walked.
func FuzzRestoreSnapshot(f *testing.F) {
	l := &log{t: f}
	l.put("a/b.txt", "one")
	l.put("a/c.txt", "two")
	l.del("a/b.txt")
	l.add("agent_heartbeat", map[string]int{"n": 1})
	p := newP(Options{RecentEvents: 3})
	replay(f, p, l.events)
	good, _ := p.MarshalSnapshot()
	f.Add(good)
	f.Add(good[:len(good)/2])
	empty, _ := newP(Options{}).MarshalSnapshot()
	f.Add(empty)
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		q := newP(Options{RecentEvents: 3})
		if err := q.RestoreSnapshot(data); err != nil {
			return
		}
		again, err := q.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		r := newP(Options{RecentEvents: 3})
		if err := r.RestoreSnapshot(again); err != nil {
			t.Fatalf("a restored snapshot's own encoding is refused: %v", err)
		}
		if third, _ := r.MarshalSnapshot(); !bytes.Equal(third, again) {
			t.Fatal("encoding is not stable across a restore")
		}
		for _, seq := range []uint64{0, q.LastSeq() / 2, q.LastSeq()} {
			v, err := q.At(seq)
			if err != nil {
				t.Fatal(err)
			}
			v.Walk(func(File) {})
			v.ReadDir("")
			v.Stat("a")
		}
	})
}

// FuzzApply: shadow events with any data apply or are refused whole,
// without a panic; the files are those of the valid events alone.
func FuzzApply(f *testing.F) {
	fm, _, _ := NewFileModified("x/y", []byte("content"))
	good, _ := json.Marshal(fm)
	f.Add([]byte(good), false)
	f.Add([]byte(`{"path":"x/y"}`), true)
	f.Add([]byte(`{"path":"x/y","sha256":"00","size":-1,"content":"AAAA"}`), false)
	f.Add([]byte(mustJSON(f, legacyPayload("x/y", "old"))), false)
	f.Add([]byte(`{"path":"../etc","sha256":"`+fmt.Sprintf("%x", store.NewBlob(nil).Sum())+`","size":0}`), false)
	f.Fuzz(func(t *testing.T, data []byte, del bool) {
		p := newP(Options{})
		typ := TypeFileModified
		if del {
			typ = TypeFileDeleted
		}
		// A valid file first, so deletes and conflicts have something to hit.
		seed := store.Event{Sequence: 1, Type: TypeFileModified, Timestamp: t0, Data: good}
		if err := p.Apply(seed); err != nil {
			t.Fatal(err)
		}
		err := p.Apply(store.Event{Sequence: 2, Type: typ, Timestamp: t0.Add(time.Second), Data: data})
		if p.LastSeq() != 2 {
			t.Fatalf("LastSeq %d after an event", p.LastSeq())
		}
		if err != nil {
			// Refused: the files are those of event 1.
			v1, _ := p.At(1)
			cur := p.Current()
			var a, b []string
			v1.Walk(func(f File) { a = append(a, fmt.Sprintf("%s:%x", f.Path, f.SHA256)) })
			cur.Walk(func(f File) { b = append(b, fmt.Sprintf("%s:%x", f.Path, f.SHA256)) })
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("a refused event changed the files: %v -> %v (%v)", a, b, err)
			}
		}
		p.Current().Walk(func(File) {})
		p.Current().ReadDir("")
	})
}
