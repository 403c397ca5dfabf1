package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// TestStuckDirectoryDoesNotStallAppends: a process stuck inside a
// directory of current/ (here: a lookup that does not return) holds the
// kernel's lock of that directory, which every cache invalidation there
// waits for. The changes are still applied, and their writers answered,
// within the invalidation wait, not when the stuck process lets go
// (before, the goroutine applying events waited for it, and with it every
// append). More changes than the queue holds are dropped and current/ is
// invalidated whole once the kernel answers: every change then shows.
func TestStuckDirectoryDoesNotStallAppends(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	w.put("d/f", "old")
	for i := range 10 {
		w.put(fmt.Sprintf("d/g%d", i), "old")
	}
	m := mountWith(t, p, Options{Logger: quietLogger(), ShowEvent: func(string) bool { return true },
		InvalidateWait: 200 * time.Millisecond, invalidateQueue: 4})
	cur := filepath.Join(m.Dir(), "current")
	for _, name := range []string{"d/f", "d/g0", "d/g5", "d/g9"} {
		if fi, err := os.Stat(filepath.Join(cur, name)); err != nil || fi.Size() != 3 { // cached by the kernel
			t.Fatal(fi, err)
		}
	}
	const stuckFor = 4 * time.Second
	release := make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	defer letGo()
	time.AfterFunc(stuckFor, letGo) // without the fix, the appends wait for this
	inLookup := make(chan struct{})
	var enter sync.Once
	hook := func(p string) {
		if p == "d/stuck" {
			enter.Do(func() { close(inLookup) })
			<-release
		}
	}
	m.testHookLookup.Store(&hook)
	go os.Stat(filepath.Join(cur, "d/stuck"))
	<-inLookup

	start := time.Now()
	w.put("d/f", "new content")
	first := time.Since(start)
	for i := range 10 { // beyond the queue of 4: some are dropped
		w.put(fmt.Sprintf("d/g%d", i), fmt.Sprint("new g", i))
	}
	all := time.Since(start)
	t.Logf("with a lookup stuck in d/: first change applied after %v, 11 after %v", first, all)
	if all > stuckFor/2 {
		t.Fatalf("11 changes took %v with a lookup stuck in their directory: appends wait for it", all)
	}
	letGo()
	deadline := time.Now().Add(10 * time.Second)
	for name, want := range map[string]string{"d/f": "new content", "d/g0": "new g0", "d/g5": "new g5", "d/g9": "new g9"} {
		for {
			fi, err := os.Stat(filepath.Join(cur, name))
			b, err2 := os.ReadFile(filepath.Join(cur, name))
			if err == nil && fi.Size() == int64(len(want)) && err2 == nil && string(b) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the stuck lookup let go: %s: stat %v %v, read %q %v; want %q", name, fi, err, b, err2, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if m.inv.stalled.Load() {
		t.Error("the invalidator still says it is stalled")
	}
}
