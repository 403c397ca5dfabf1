package shadow

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// A capture taken at sequence N and encoded after later events (new files
// and directories, new versions, deletions, a wrapped recent ring), even
// while those events are being applied, gives exactly the bytes of a
// projection that only ever saw the first N events.
func TestCaptureIsTheStateAtItsSequence(t *testing.T) {
	l := &log{t: t}
	for i := range 40 {
		l.put(fmt.Sprintf("src/d%d/f%d.go", i%4, i%9), fmt.Sprintf("rev %d", i))
		if i%7 == 6 {
			l.del(fmt.Sprintf("src/d%d/f%d.go", i%4, i%9))
		}
	}
	n := len(l.events)
	for i := range 60 {
		l.put(fmt.Sprintf("new/b%d/c%d.txt", i%5, i%11), fmt.Sprintf("later %d", i))
		l.put(fmt.Sprintf("src/d%d/f%d.go", i%4, i%9), fmt.Sprintf("later rev %d", i))
		if i%5 == 0 {
			l.del(fmt.Sprintf("src/d%d/f%d.go", i%4, i%9))
		}
		l.add("task_progress", map[string]int{"step": i})
	}

	want := newP(Options{RecentEvents: 16})
	replay(t, want, l.events[:n])
	wantBytes, err := want.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}

	live := newP(Options{RecentEvents: 16})
	replay(t, live, l.events[:n])
	encode := live.CaptureSnapshot()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // later events applied while the capture is encoded
		defer wg.Done()
		for _, ev := range l.events[n:] {
			live.Apply(ev)
		}
	}()
	got, err := encode()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantBytes) {
		t.Fatalf("capture encoded after later events differs from the state at %d (%d vs %d bytes)", n, len(got), len(wantBytes))
	}
	// Encoding again after all of them changes nothing either, and the
	// live projection has moved on.
	if again, _ := encode(); !bytes.Equal(again, wantBytes) {
		t.Fatal("second encoding of the capture differs")
	}
	if now, _ := live.MarshalSnapshot(); bytes.Equal(now, wantBytes) {
		t.Fatal("the live projection did not change: the test applied nothing")
	}
	// And the bytes restore to the state at n.
	back := newP(Options{RecentEvents: 16})
	if err := back.RestoreSnapshot(got); err != nil {
		t.Fatal(err)
	}
	if back.LastSeq() != uint64(n) {
		t.Fatalf("restored at %d, want %d", back.LastSeq(), n)
	}
}
