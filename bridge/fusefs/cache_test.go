package fusefs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// The kernel caches current/'s entries and attributes (READDIRPLUS and
// long timeouts); every change must still be visible the moment Apply
// returns, whatever the kernel had cached: same-size rewrites, a file
// that becomes a directory and back, directories that vanish or appear
// deep down, and directory times.
func TestCurrentCacheNeverStale(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	w.put("keep/a.txt", "aaaa")
	w.put("x", "a file")
	w.put("d/e/f", "deep")
	m := mountT(t, p)
	cur := filepath.Join(m.Dir(), "current")
	warm := func() { run(t, cur, "ls", "-lR"); run(t, cur, "find", ".", "-type", "f", "-exec", "cat", "{}", "+") }
	warm()
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(cur, rel))
		if err != nil {
			t.Fatalf("read %s: %v", rel, err)
		}
		return string(b)
	}
	kind := func(rel string) string {
		fi, err := os.Stat(filepath.Join(cur, rel))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "none"
		case err != nil:
			t.Fatalf("stat %s: %v", rel, err)
		case fi.IsDir():
			return "dir"
		}
		return fmt.Sprintf("file:%d", fi.Size())
	}

	// Same size, new content.
	w.put("keep/a.txt", "bbbb")
	if got := read("keep/a.txt"); got != "bbbb" {
		t.Errorf("same-size rewrite reads %q", got)
	}
	// File -> directory.
	w.del("x")
	if k := kind("x"); k != "none" {
		t.Errorf("deleted x is %s", k)
	}
	w.put("x/y", "now a directory")
	if k := kind("x"); k != "dir" {
		t.Errorf("x is %s, want a directory", k)
	}
	if got := read("x/y"); got != "now a directory" {
		t.Errorf("x/y = %q", got)
	}
	warm()
	// Directory -> file: d/e/f goes, d/e and d vanish, d comes back a file.
	w.del("d/e/f")
	for _, rel := range []string{"d/e/f", "d/e", "d"} {
		if k := kind(rel); k != "none" {
			t.Errorf("%s is %s after its last file went", rel, k)
		}
	}
	w.put("d", "a file again")
	if k := kind("d"); k != "file:12" {
		t.Errorf("d is %s, want a 12-byte file", k)
	}
	// Deep new directories under a warm tree; directory times move.
	warm()
	before, _ := os.Stat(filepath.Join(cur, "keep"))
	curBefore, _ := os.Stat(cur)
	w.put("keep/n1/n2/n3/f.txt", "deep and new")
	if curAfter, _ := os.Stat(cur); !curAfter.ModTime().After(curBefore.ModTime()) {
		t.Errorf("current/'s time stayed %v after a file appeared below it", curAfter.ModTime())
	}
	if got := run(t, cur, "find", "keep", "-name", "f.txt"); got != "keep/n1/n2/n3/f.txt\n" {
		t.Errorf("find after a deep put = %q", got)
	}
	after, _ := os.Stat(filepath.Join(cur, "keep"))
	if !after.ModTime().After(before.ModTime()) {
		t.Errorf("keep's time stayed %v after a file appeared below it", after.ModTime())
	}
	if got := run(t, cur, "ls"); got != "d\nkeep\nx\n" {
		t.Errorf("ls = %q", got)
	}
}

// A process sitting in a directory of current/ sees files come and go,
// and its directory vanishing.
func TestCurrentCwdFollowsChanges(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	w.put("src/a.go", "package a")
	m := mountT(t, p)
	src := filepath.Join(m.Dir(), "current/src")
	if got := run(t, src, "ls", "-l"); !strings.Contains(got, "a.go") {
		t.Fatalf("ls = %q", got)
	}
	w.put("src/b.go", "package a")
	if got := run(t, src, "sh", "-c", "ls && cat b.go"); got != "a.go\nb.go\npackage a" {
		t.Errorf("after a put: %q", got)
	}
}

// Stats and reads race with rewrites of one file through the kernel:
// right after each Apply, a stat from another thread sees the new size
// and a read the new content, never an older one a racing lookup brought.
func TestCurrentNoStaleAttributesUnderRaces(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	content := func(i int) string { return strings.Repeat("v", 1+i%97) + fmt.Sprint(i) }
	w.put("hot/file", content(0))
	m := mountT(t, p)
	path := filepath.Join(m.Dir(), "current/hot/file")
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 { // racers: keep lookups and getattrs in flight
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				var st syscall.Stat_t
				syscall.Stat(path, &st)
				syscall.Stat(filepath.Dir(path), &st)
				os.ReadDir(filepath.Dir(path))
			}
		}()
	}
	names := func() string {
		des, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, de := range des {
			n = append(n, de.Name())
		}
		return strings.Join(n, ",")
	}
	extra := ""
	for i := 1; i <= 200; i++ {
		if i%50 == 0 { // the tree changes too
			w.del("hot/file")
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("round %d: deleted file stats as %v", i, err)
			}
			if got := names(); got != strings.TrimPrefix(extra, ",") {
				t.Fatalf("round %d: listing after the delete = %q, want %q", i, got, strings.TrimPrefix(extra, ","))
			}
		}
		if i%20 == 0 {
			w.put(fmt.Sprintf("hot/n%03d", i), "new")
			extra += fmt.Sprintf(",n%03d", i)
		}
		w.put("hot/file", content(i))
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != int64(len(content(i))) {
			t.Fatalf("round %d: stat = %v, %v; want %d bytes", i, fi, err, len(content(i)))
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != content(i) {
			t.Fatalf("round %d: read %q, %v; want %q", i, b, err, content(i))
		}
		if got := names(); got != "file"+extra {
			t.Fatalf("round %d: listing = %q, want %q", i, got, "file"+extra)
		}
	}
	stop.Store(true)
	wg.Wait()
}

// Events of one commit share a time, so a directory's time does not
// tell the kernel its listing changed: the listing it keeps must be
// dropped anyway when an entry comes or goes.
func TestCurrentListingWithEqualTimes(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	same := t0.Add(time.Hour)
	put := func(path, content string) {
		fm, blob, err := shadow.NewFileModified(path, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.st.PutBlobs(blob); err != nil {
			t.Fatal(err)
		}
		w.seq++
		raw, _ := json.Marshal(fm)
		if err := p.Apply(store.Event{Sequence: w.seq, ID: fmt.Sprint(w.seq), Type: shadow.TypeFileModified, Timestamp: same, Data: raw}); err != nil {
			t.Fatal(err)
		}
	}
	put("dir/a", "a")
	m := mountT(t, p)
	dir := filepath.Join(m.Dir(), "current/dir")
	for i, want := range []string{"a\n", "a\nb\n", "a\nb\nc\n"} {
		if got := run(t, dir, "ls"); got != want {
			t.Fatalf("step %d: ls = %q, want %q", i, got, want)
		}
		put(fmt.Sprintf("dir/%c", 'b'+i), "x")
	}
}

// A lookup that read the projection before a change and answers the
// kernel after it must not leave what it read in the kernel's cache: the
// change waits for it, then drops it.
func TestCurrentLookupInFlightDuringChange(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	w.put("d/f", "old")
	m := mountT(t, p)
	path := filepath.Join(m.Dir(), "current/d/f")
	if _, err := os.Stat(filepath.Dir(path)); err != nil { // d known, f not yet
		t.Fatal(err)
	}
	inLookup := make(chan struct{})
	var once sync.Once
	hook := func(p string) {
		if p == "d/f" {
			once.Do(func() {
				close(inLookup)
				time.Sleep(200 * time.Millisecond) // answer after the change
			})
		}
	}
	m.testHookLookup.Store(&hook)
	go os.Stat(path) // a lookup of f that reads "old" and stays in flight
	<-inLookup
	w.put("d/f", "newer content")
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != int64(len("newer content")) {
		t.Fatalf("stat after the change = %v, %v; want %d bytes", fi, err, len("newer content"))
	}
}

// Listing history/ creates a node for every entry (READDIRPLUS), kept
// until the kernel forgets it, which it does under its own memory
// pressure only: the view bounds them, asking the kernel to drop history
// first, so `ls -R history/` cannot grow the bridge's memory without end.
func TestNodesBounded(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	names := make([]string, 300)
	for i := range names {
		names[i] = fmt.Sprintf("d/f%03d", i)
	}
	w.putMany(names, func(i int) []byte { return []byte("x") })
	m := mountT(t, p)
	m.maxNodes.Store(1000)
	for seq := w.seq; seq > w.seq-20; seq-- { // 20 listings of ~300 entries
		if _, err := os.ReadDir(filepath.Join(m.Dir(), "history", fmt.Sprint(seq), "d")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.nodes.Load() > 1000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := m.nodes.Load(); n > 1000 {
		t.Fatalf("%d nodes held after listing 6,000 entries with a bound of 1,000", n)
	}
	// What was dropped is looked up again when needed.
	if b, err := os.ReadFile(filepath.Join(m.Dir(), "history", fmt.Sprint(w.seq), "d/f007")); err != nil || string(b) != "x" {
		t.Fatalf("after the prune: %q %v", b, err)
	}
	if n := m.nodes.Load(); n < 0 {
		t.Fatalf("node count went negative: %d", n)
	}
}

// A directory larger than what an open directory holds at a time lists
// whole and in order, in current/ and history/, read by ls and by a
// reader that rewinds.
func TestLargeDirectoryListsWhole(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	n := 3*dirChunk + 7
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("big/f%04d", i)
	}
	w.putMany(names, func(i int) []byte { return []byte("x") })
	m := mountT(t, p)
	for _, dir := range []string{"current/big", fmt.Sprintf("history/%d/big", w.seq)} {
		got := strings.Fields(run(t, filepath.Join(m.Dir(), dir), "ls", "-f"))
		slices.Sort(got)
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("f%04d", i))
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d names listed, want %d", dir, len(got), len(want))
		}
		f, err := os.Open(filepath.Join(m.Dir(), dir))
		if err != nil {
			t.Fatal(err)
		}
		first, _ := f.Readdirnames(10)
		f.Seek(0, 0) // rewinddir
		again, _ := f.Readdirnames(-1)
		f.Close()
		if len(again) != n || !slices.Equal(first, again[:10]) {
			t.Fatalf("%s: after a rewind %d names, first %v vs %v", dir, len(again), first, again[:10])
		}
	}
}
