package shadow

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// applyAs stores ev as agent's (what the writer's CheckRoom let through).
func applyAs(t testing.TB, p *Projection, ev store.Event, agent string) {
	t.Helper()
	ev.AgentID = agent
	if err := p.Apply(ev); err != nil {
		t.Fatalf("apply %d: %v", ev.Sequence, err)
	}
}

// TestIndexEstimateIsWhatTheProjectionHolds: the index estimate added
// change by change (costLocked) equals the estimate of the whole
// projection (indexBytesLocked), over random changes of shallow and deep,
// new and old paths; a snapshot keeps each agent's usage.
func TestIndexEstimateIsWhatTheProjectionHolds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	l := &log{t: t}
	p := newP(Options{})
	live := map[string]bool{}
	for i := range 3000 {
		agent := []string{"a", "b", "c"}[r.IntN(3)]
		fp := fmt.Sprintf("d%d/%s/f%d", r.IntN(5), strings.Repeat("x/", r.IntN(12)), r.IntN(20))
		if live[fp] && r.IntN(3) == 0 {
			applyAs(t, p, l.del(fp), agent)
			live[fp] = false
			continue
		}
		if p.CheckWrite(fp) != nil {
			continue
		}
		applyAs(t, p, l.put(fp, fmt.Sprint(r.IntN(50), i%7)), agent)
		live[fp] = true
	}
	p.mu.RLock()
	inc, whole := p.index, p.indexBytesLocked()
	p.mu.RUnlock()
	if inc != whole {
		t.Fatalf("index estimate %d change by change, %d of the whole", inc, whole)
	}
	sum := int64(0)
	for _, u := range p.agents {
		sum += u.index
	}
	if sum+costDir != inc {
		t.Fatalf("agents' index %d + the root %d, want %d", sum, costDir, inc)
	}
	snap, err := p.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	q := newP(Options{})
	if err := q.RestoreSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"a", "b", "c"} {
		i1, a1, c1 := p.Usage(a)
		i2, a2, c2 := q.Usage(a)
		if i1 != i2 || a1 != a2 || c1 != c2 || a1 == 0 || c1 == 0 {
			t.Fatalf("agent %s: usage %d %d %d, restored %d %d %d", a, i1, a1, c1, i2, a2, c2)
		}
	}
}

// TestCheckRoomRefusesDeepPathsAndFullIndexes: a path deeper than
// MaxPathDepth, a change past the index bound, and an agent past its share
// of the index or of the content are each refused with a RoomError that
// says which bound; other agents keep their share.
func TestCheckRoomRefusesDeepPathsAndFullIndexes(t *testing.T) {
	p := newP(Options{MaxPathDepth: 8, MaxIndexBytes: 64 << 10, MaxContentBytes: 1000, AgentShare: 50})
	var re *RoomError
	if err := p.CheckRoom("a", strings.Repeat("d/", 8)+"f", false, [32]byte{1}, 1); !errors.Is(err, ErrTooDeep) || !errors.As(err, &re) || re.Limit != 8 {
		t.Fatalf("9 levels deep with a limit of 8: %v", err)
	}
	if err := p.CheckRoom("a", strings.Repeat("d/", 7)+"f", false, [32]byte{1}, 1); err != nil {
		t.Fatalf("8 levels deep: %v", err)
	}
	// Content: a may add 500 bytes of new content.
	l := &log{t: t}
	content := strings.Repeat("c", 400)
	if err := p.CheckRoom("a", "big1", false, store.NewBlob([]byte(content)).Sum(), 400); err != nil {
		t.Fatal(err)
	}
	applyAs(t, p, l.put("big1", content), "a")
	other := strings.Repeat("o", 400)
	if err := p.CheckRoom("a", "big2", false, store.NewBlob([]byte(other)).Sum(), 400); !errors.Is(err, ErrShareFull) {
		t.Fatalf("a past its content share: %v", err)
	}
	// Content already stored costs no share.
	if err := p.CheckRoom("a", "copy", false, store.NewBlob([]byte(content)).Sum(), 400); err != nil {
		t.Fatalf("a copy of stored content: %v", err)
	}
	if err := p.CheckRoom("b", "big2", false, store.NewBlob([]byte(other)).Sum(), 400); err != nil {
		t.Fatalf("b within its share: %v", err)
	}
	// Index: a cycles one file until its share (32 KiB) is used up.
	n := 0
	for ; n < 10000; n++ {
		del := n%2 == 1
		if err := p.CheckRoom("a", "x/y/z", del, store.NewBlob([]byte("1")).Sum(), 1); err != nil {
			if !errors.Is(err, ErrShareFull) || !errors.As(err, &re) || re.What != "agent index" {
				t.Fatalf("a's cycle %d: %v", n, err)
			}
			break
		}
		if del {
			applyAs(t, p, l.del("x/y/z"), "a")
		} else {
			applyAs(t, p, l.put("x/y/z", "1"), "a")
		}
	}
	if n < 100 || n == 10000 {
		t.Fatalf("a's share stopped it after %d changes", n)
	}
	// b fills the rest: then the index itself is full, for everyone.
	for n = 0; n < 10000; n++ {
		if err := p.CheckRoom("b", fmt.Sprintf("b/%d", n), false, store.NewBlob([]byte("1")).Sum(), 1); err != nil {
			if !errors.Is(err, ErrShareFull) && !errors.Is(err, ErrIndexFull) {
				t.Fatalf("b's file %d: %v", n, err)
			}
			break
		}
		applyAs(t, p, l.put(fmt.Sprintf("b/%d", n), "1"), "b")
	}
	if err := p.CheckRoom("c", "c/1", false, store.NewBlob([]byte("1")).Sum(), 1); err == nil && p.index < p.maxIndex-1024 {
		t.Fatalf("index %d of %d after b's share", p.index, p.maxIndex)
	}
}

// TestDeepPathCyclesHoldBoundedMemory: the reviewer's attack (a 1-byte
// file at the bottom of a deep path, PUT and DELETE in turns) under the
// default depth and a 16 MiB index: CheckRoom stops it, and the heap the
// projection holds stays within about twice the index bound. On main the
// 2,000-level path cost every event 2,000 count entries and the bridge
// was OOM-killed in 1 GiB after about 8,000 cycles.
func TestDeepPathCyclesHoldBoundedMemory(t *testing.T) {
	const bound = 16 << 20
	p := newP(Options{MaxIndexBytes: bound, AgentShare: 100})
	before := heapBytes()
	fp := strings.Repeat("a/", DefaultMaxPathDepth-1) + "f"
	sum := store.NewBlob([]byte("x")).Sum()
	fm, _, err := NewFileModified(fp, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	testBlobs.put([]byte("x"))
	fd, _ := NewFileDeleted(fp)
	l := &log{t: t}
	var mod, del store.Event
	mod, del = l.add(TypeFileModified, fm), l.add(TypeFileDeleted, fd)
	seq := uint64(0)
	n := 0
	for ; n < 200_000; n++ {
		ev := mod
		if n%2 == 1 {
			ev = del
		}
		if err := p.CheckRoom("mallory", fp, n%2 == 1, sum, 1); err != nil {
			if !errors.Is(err, ErrIndexFull) {
				t.Fatalf("cycle %d: %v", n, err)
			}
			break
		}
		seq++
		ev.Sequence = seq
		applyAs(t, p, ev, "mallory")
	}
	grown := int64(heapBytes()) - int64(before)
	t.Logf("%d changes of a %d-level path before the index was full; heap grew %d MiB", n, DefaultMaxPathDepth, grown>>20)
	if n == 200_000 {
		t.Fatal("the index bound never stopped the cycles")
	}
	if grown > 2*bound {
		t.Fatalf("heap grew %d MiB for an index bound of %d MiB: the estimate is too low", grown>>20, bound>>20)
	}
	runtime.KeepAlive(p)
}

func heapBytes() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestWalkAfterResumesWalk: walking in parts of any size, each after the
// last path of the one before, gives Walk's files in Walk's order.
func TestWalkAfterResumesWalk(t *testing.T) {
	l := &log{t: t}
	p := newP(Options{})
	for _, fp := range []string{"a.txt", "a/b", "a/c/d", "a/c/e", "a-b", "b", "c/d/e/f", "c/g", "zz/y", "a/c.txt"} {
		applyAs(t, p, l.put(fp, fp), "w")
	}
	applyAs(t, p, l.del("c/g"), "w")
	v, _ := p.At(p.LastSeq())
	var want []string
	v.Walk(func(f File) { want = append(want, f.Path) })
	for n := 1; n <= len(want)+1; n++ {
		var got []string
		after := ""
		for parts := 0; parts < 100; parts++ {
			last, more := v.WalkAfter(after, n, func(f File) { got = append(got, f.Path) })
			if !more || last == "" {
				break
			}
			after = last
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("parts of %d: %v, want %v", n, got, want)
		}
	}
}
