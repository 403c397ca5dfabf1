package fusefs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// childEnv makes the test binary a child that mounts a view at the given
// directory and waits to be killed (the stale-mount test).
const childEnv = "LIGHTHOUSE_FUSEFS_TEST_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(mmapEnv); path != "" {
		os.Exit(mmapChild(path))
	}
	if dir := os.Getenv(childEnv); dir != "" {
		tmp, err := os.MkdirTemp("", "fusefs-child-")
		if err != nil {
			fmt.Println("temp dir:", err)
			os.Exit(1)
		}
		st, err := store.Open(tmp, store.Options{})
		if err != nil {
			fmt.Println("store:", err)
			os.Exit(1)
		}
		p := shadow.New(shadow.Options{Blobs: st})
		w := &writer{p: p, st: st}
		w.put("child.txt", "from the child")
		if _, err := Mount(dir, p, Options{}); err != nil {
			fmt.Println("mount failed:", err)
			os.Exit(1)
		}
		fmt.Println("mounted")
		select {}
	}
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// writer applies shadow events to a projection, as the server does, with
// one event a minute from t0; the contents go to the event store's blobs
// (PutBlobs: the projection is not attached to the store, so the tests
// choose the events' times).
type writer struct {
	p   *shadow.Projection
	st  *store.Store
	seq uint64
}

// newProject is an empty projection whose contents live in a new event
// store in a temporary directory.
func newProject(tb testing.TB, opts shadow.Options) (*shadow.Projection, *writer) {
	tb.Helper()
	st, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	opts.Blobs = st
	p := shadow.New(opts)
	return p, &writer{p: p, st: st}
}

func (w *writer) apply(typ string, data any) uint64 {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	w.seq++
	ev := store.Event{Sequence: w.seq, ID: fmt.Sprint("e", w.seq), Type: typ, AgentID: "builder-1",
		Timestamp: t0.Add(time.Duration(w.seq) * time.Minute), Data: raw}
	if err := w.p.Apply(ev); err != nil {
		panic(err)
	}
	return w.seq
}

func (w *writer) put(p, content string) uint64 {
	fm, blob, err := shadow.NewFileModified(p, []byte(content))
	if err != nil {
		panic(err)
	}
	if err := w.st.PutBlobs(blob); err != nil {
		panic(err)
	}
	return w.apply(shadow.TypeFileModified, fm)
}

// putMany writes many files with one store transaction per 1,000.
func (w *writer) putMany(paths []string, content func(i int) []byte) {
	for start := 0; start < len(paths); start += 1000 {
		end := min(start+1000, len(paths))
		var blobs []store.Blob
		var fms []shadow.FileModified
		for i := start; i < end; i++ {
			fm, blob, err := shadow.NewFileModified(paths[i], content(i))
			if err != nil {
				panic(err)
			}
			blobs, fms = append(blobs, blob), append(fms, fm)
		}
		if err := w.st.PutBlobs(blobs...); err != nil {
			panic(err)
		}
		for _, fm := range fms {
			w.apply(shadow.TypeFileModified, fm)
		}
	}
}

func (w *writer) del(p string) uint64 {
	fd, err := shadow.NewFileDeleted(p)
	if err != nil {
		panic(err)
	}
	return w.apply(shadow.TypeFileDeleted, fd)
}

// requireFUSE fails where FUSE cannot work: the tests must run, not skip,
// wherever the bridge is tested (CI runs as root with /dev/fuse).
// LIGHTHOUSE_SKIP_FUSE=1 is the explicit opt-out, as for the server's tests.
func requireFUSE(t testing.TB) {
	t.Helper()
	if os.Getenv("LIGHTHOUSE_SKIP_FUSE") == "1" {
		t.Skip("LIGHTHOUSE_SKIP_FUSE=1")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("FUSE tests need /dev/fuse (%v); set LIGHTHOUSE_SKIP_FUSE=1 to skip them knowingly", err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("FUSE tests mount with mount(2) and need root; set LIGHTHOUSE_SKIP_FUSE=1 to skip them knowingly")
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

func mountT(t testing.TB, p *shadow.Projection) *FS {
	t.Helper()
	return mountWith(t, p, Options{Logger: quietLogger(), ShowEvent: func(string) bool { return true }})
}

func mountWith(t testing.TB, p *shadow.Projection, opts Options) *FS {
	t.Helper()
	requireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if os.Getenv("LIGHTHOUSE_FUSE_DEBUG") != "" {
		// Every FUSE request, for debugging a test.
		opts.Debug = true
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := Mount(dir, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// run runs a Unix tool in dir. The tool changes into dir itself, after
// exec: with cmd.Dir the chdir would happen in the vfork child, while the
// parent thread holds a P the Go runtime cannot stop, and a garbage
// collection then deadlocks against the FUSE server living in this process.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", `cd "$0" && exec "$@"`, dir, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func sampleProject(t *testing.T) (*shadow.Projection, *writer) {
	p, w := newProject(t, shadow.Options{RecentEvents: 4})
	w.put("README.md", "# demo\n")                                   // 1
	w.put("src/main.go", "package main\n\nfunc main() { todo() }\n") // 2
	w.put("src/util/strings.go", "package util // TODO tidy\n")      // 3
	w.put("README.md", "# demo\n\nNow with docs.\n")                 // 4
	w.del("src/main.go")                                             // 5
	return p, w
}

func TestCurrentWithUnixTools(t *testing.T) {
	p, _ := sampleProject(t)
	m := mountT(t, p)
	cur := filepath.Join(m.Dir(), "current")

	got := run(t, cur, "ls", "-R")
	want := ".:\nREADME.md\nsrc\n\n./src:\nutil\n\n./src/util:\nstrings.go\n"
	if got != want {
		t.Errorf("ls -R:\n%s\nwant:\n%s", got, want)
	}
	if got := run(t, cur, "cat", "README.md"); got != "# demo\n\nNow with docs.\n" {
		t.Errorf("cat README.md = %q", got)
	}
	if got := run(t, cur, "grep", "-rn", "TODO", "."); got != "./src/util/strings.go:1:package util // TODO tidy\n" {
		t.Errorf("grep -r = %q", got)
	}
	if got := run(t, cur, "find", ".", "-type", "f"); !cmp.Equal(sortedLines(got), []string{"./README.md", "./src/util/strings.go"}) {
		t.Errorf("find = %q", got)
	}
	// stat: size, mode, owner and the event's time.
	got = run(t, cur, "stat", "-c", "%s %A %Y", "README.md", "src")
	want = fmt.Sprintf("%d -r--r--r-- %d\n0 dr-xr-xr-x %d\n", len("# demo\n\nNow with docs.\n"),
		t0.Add(4*time.Minute).Unix(), t0.Add(5*time.Minute).Unix()) // src changed when main.go went
	if got != want {
		t.Errorf("stat:\n%s\nwant:\n%s", got, want)
	}
	fi, err := os.Stat(filepath.Join(cur, "src/util/strings.go"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len("package util // TODO tidy\n")) || fi.Mode() != 0o444 || !fi.ModTime().Equal(t0.Add(3*time.Minute)) {
		t.Errorf("os.Stat = size %d mode %v mtime %v", fi.Size(), fi.Mode(), fi.ModTime())
	}
	if _, err := os.Stat(filepath.Join(cur, "src/main.go")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted file: %v", err)
	}
}

func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(l)
	return l
}

func TestHistory(t *testing.T) {
	p, _ := sampleProject(t)
	m := mountT(t, p)
	hist := filepath.Join(m.Dir(), "history")

	if got := run(t, hist, "ls"); got != "1\n2\n3\n4\n5\n" {
		t.Errorf("ls history = %q", got)
	}
	// As of event 2: the first README and main.go, no util yet.
	if got := run(t, filepath.Join(hist, "2"), "find", ".", "-type", "f"); !cmp.Equal(sortedLines(got), []string{"./README.md", "./src/main.go"}) {
		t.Errorf("find history/2 = %q", got)
	}
	if got := run(t, hist, "cat", "2/README.md", "4/README.md"); got != "# demo\n# demo\n\nNow with docs.\n" {
		t.Errorf("cat = %q", got)
	}
	if got := run(t, hist, "grep", "-rl", "main", "4"); got != "4/src/main.go\n" {
		t.Errorf("grep -rl main 4 = %q", got)
	}
	if got := run(t, hist, "ls", "-R", "5"); got != "5:\nREADME.md\nsrc\n\n5/src:\nutil\n\n5/src/util:\nstrings.go\n" {
		t.Errorf("ls -R 5 = %q", got)
	}
	fi, err := os.Stat(filepath.Join(hist, "2/README.md"))
	if err != nil || fi.Size() != 7 || !fi.ModTime().Equal(t0.Add(time.Minute)) {
		t.Errorf("stat history/2/README.md = %v, %v", fi, err)
	}
	for _, missing := range []string{"6", "0x1", "01", "abc"} {
		if _, err := os.Stat(filepath.Join(hist, missing)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("history/%s: %v, want not exist", missing, err)
		}
	}
	if _, err := os.Stat(filepath.Join(hist, "2/src/util")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("history/2/src/util before it was created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(hist, "3/src/util")); err != nil {
		t.Errorf("history/3/src/util: %v", err)
	}
}

func TestNewShadowVisibleAtOnce(t *testing.T) {
	p, w := sampleProject(t)
	m := mountT(t, p)
	cur := filepath.Join(m.Dir(), "current")
	// Warm every cache the kernel might keep.
	run(t, cur, "ls", "-lR")
	if _, err := os.Stat(filepath.Join(cur, "new.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("new.txt before: %v", err)
	}

	w.put("new.txt", "fresh")
	if b, err := os.ReadFile(filepath.Join(cur, "new.txt")); err != nil || string(b) != "fresh" {
		t.Errorf("new.txt right after Apply = %q, %v", b, err)
	}
	w.put("README.md", "short")
	if fi, err := os.Stat(filepath.Join(cur, "README.md")); err != nil || fi.Size() != 5 {
		t.Errorf("README.md size after rewrite = %v, %v", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(cur, "README.md")); err != nil || string(b) != "short" {
		t.Errorf("README.md after rewrite = %q, %v", b, err)
	}
	w.del("new.txt")
	if _, err := os.Stat(filepath.Join(cur, "new.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("new.txt after delete: %v", err)
	}
	if got := run(t, cur, "ls"); got != "README.md\nsrc\n" {
		t.Errorf("ls after delete = %q", got)
	}
	// The history of the moment new.txt existed stays.
	if b, err := os.ReadFile(filepath.Join(m.Dir(), "history", fmt.Sprint(w.seq-1), "new.txt")); err != nil || string(b) != "fresh" {
		t.Errorf("history of new.txt = %q, %v", b, err)
	}
}

func TestEvents(t *testing.T) {
	p, w := sampleProject(t)
	w.apply("agent_heartbeat", map[string]string{"status": "busy"}) // 6
	m := mountT(t, p)
	ev := filepath.Join(m.Dir(), "events")
	if got := run(t, ev, "ls"); got != "3.json\n4.json\n5.json\n6.json\n" {
		t.Errorf("ls events (ring of 4) = %q", got)
	}
	if got := run(t, ev, "grep", "-l", "agent_heartbeat", "-r", "."); got != "./6.json\n" {
		t.Errorf("grep = %q", got)
	}
	b, err := os.ReadFile(filepath.Join(ev, "5.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e store.Event
	if err := json.Unmarshal(b, &e); err != nil || e.Sequence != 5 || e.Type != shadow.TypeFileDeleted || !strings.Contains(string(e.Data), "src/main.go") {
		t.Errorf("events/5.json = %s (%v)", b, err)
	}
	if _, err := os.Stat(filepath.Join(ev, "1.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("events/1.json outside the ring: %v", err)
	}
}

// TestEventsShowOnlyWhatEveryoneMayRead: the view has no agent identity,
// so events/ lists and opens only the types ShowEvent admits, and with
// no ShowEvent none at all.
func TestEventsShowOnlyWhatEveryoneMayRead(t *testing.T) {
	p, w := sampleProject(t)
	w.apply("task_dispatched", map[string]string{"assigned_to": "bob", "description": "secret"}) // 6
	w.apply("build_started", map[string]string{"n": "1"})                                        // 7
	m := mountWith(t, p, Options{Logger: quietLogger(), ShowEvent: func(typ string) bool { return typ != "task_dispatched" }})
	ev := filepath.Join(m.Dir(), "events")
	if got := run(t, ev, "ls"); got != "4.json\n5.json\n7.json\n" {
		t.Errorf("ls events (ring of 4, 6 hidden) = %q", got)
	}
	if _, err := os.ReadFile(filepath.Join(ev, "6.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("events/6.json (task_dispatched) opened: %v", err)
	}
	if got, _ := exec.Command("sh", "-c", `cd "$0" && grep -rl secret .`, ev).CombinedOutput(); len(got) != 0 {
		t.Errorf("grep found the hidden event in %q", got)
	}
	none := mountWith(t, p, Options{Logger: quietLogger()})
	if got := run(t, filepath.Join(none.Dir(), "events"), "ls"); got != "" {
		t.Errorf("events/ without ShowEvent = %q, want nothing (default deny)", got)
	}
	if _, err := os.Stat(filepath.Join(none.Dir(), "events", "7.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("events/7.json without ShowEvent: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	p, _ := sampleProject(t)
	m := mountT(t, p)
	cur := filepath.Join(m.Dir(), "current")
	f := filepath.Join(cur, "README.md")
	before, _ := os.ReadFile(f)

	checks := map[string]error{
		"write":       os.WriteFile(f, []byte("x"), 0o644),
		"create":      os.WriteFile(filepath.Join(cur, "new"), []byte("x"), 0o644),
		"mkdir":       os.Mkdir(filepath.Join(cur, "d"), 0o755),
		"remove":      os.Remove(f),
		"rmdir":       os.Remove(filepath.Join(cur, "src/util")),
		"rename":      os.Rename(f, filepath.Join(cur, "R.md")),
		"chmod":       os.Chmod(f, 0o777),
		"symlink":     os.Symlink("README.md", filepath.Join(cur, "l")),
		"history":     os.WriteFile(filepath.Join(m.Dir(), "history/1/README.md"), []byte("x"), 0o644),
		"events":      os.Remove(filepath.Join(m.Dir(), "events/5.json")),
		"root create": os.WriteFile(filepath.Join(m.Dir(), "x"), nil, 0o644),
	}
	for name, err := range checks {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", name, err)
		}
	}
	for _, args := range [][]string{
		{"touch", "README.md"}, {"sh", "-c", "echo hi > README.md"}, {"rm", "-f", "README.md"},
		{"mv", "README.md", "x"}, {"sh", "-c", "echo hi >> src/util/strings.go"},
	} {
		cmd := exec.Command("sh", append([]string{"-c", `cd "$0" && exec "$@"`, cur}, args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Read-only file system") {
			t.Errorf("%v: err %v, output %q; want a read-only failure", args, err, out)
		}
	}
	if after, _ := os.ReadFile(f); string(after) != string(before) {
		t.Errorf("content changed: %q", after)
	}
}

func TestHealthyAndUnmount(t *testing.T) {
	requireFUSE(t)
	p, _ := sampleProject(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	m, err := Mount(dir, p, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Healthy(); err != nil {
		t.Fatalf("Healthy on a fresh mount: %v", err)
	}
	if fstype, ok := mountedFS(m.Dir()); !ok || fstype != "fuse.lighthouse" {
		t.Errorf("mountinfo: %q %v", fstype, ok)
	}
	// A second bridge on the same mount point fails fast.
	if _, err := Mount(dir, p, Options{Logger: quietLogger()}); !errors.Is(err, ErrBusy) {
		t.Errorf("second Mount = %v, want ErrBusy", err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := m.Healthy(); err == nil {
		t.Error("Healthy after Unmount")
	}
	if _, ok := mountedFS(m.Dir()); ok {
		t.Error("still in mountinfo after Unmount")
	}
	if got := m.Ops().Getattr.Load(); got == 0 {
		t.Error("no getattr counted")
	}
}

// TestStaleMountRecovery kills a child that holds a mount with SIGKILL,
// leaving the kernel mount without a server, and mounts again over it.
func TestStaleMountRecovery(t *testing.T) {
	requireFUSE(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "mounted\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", line)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "current/child.txt")); err != nil || string(b) != "from the child" {
		t.Fatalf("child's mount: %q %v", b, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat after kill -9 = %v, want ENOTCONN (a stale mount)", err)
	}

	p, w := sampleProject(t)
	m, err := Mount(dir, p, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Mount over the stale mount: %v", err)
	}
	defer m.Unmount()
	if err := m.Healthy(); err != nil {
		t.Fatal(err)
	}
	w.put("after.txt", "recovered")
	if b, err := os.ReadFile(filepath.Join(dir, "current/after.txt")); err != nil || string(b) != "recovered" {
		t.Errorf("after recovery: %q %v", b, err)
	}
}

// TestOtherUsersRead: the view is mounted allow_other, so an unprivileged
// user reads it too (and still cannot write).
func TestOtherUsersRead(t *testing.T) {
	p, _ := sampleProject(t)
	m := mountT(t, p)
	// The temporary directories above the mount point are 0700; let the
	// other user through to the mount point.
	for d := filepath.Dir(m.Dir()); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := asNobody("cat", filepath.Join(m.Dir(), "current/README.md"), filepath.Join(m.Dir(), "history/1/README.md"))
	if err != nil || out != "# demo\n\nNow with docs.\n# demo\n" {
		t.Errorf("cat as nobody: %q, %v", out, err)
	}
	out, err = asNobody("ls", filepath.Join(m.Dir(), "current/src/util"))
	if err != nil || out != "strings.go\n" {
		t.Errorf("ls as nobody: %q, %v", out, err)
	}
	if out, err := asNobody("touch", filepath.Join(m.Dir(), "current/README.md")); err == nil {
		t.Errorf("touch as nobody succeeded: %q", out)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/plain`:           "/mnt/plain",
		`/mnt/with\040space`:   "/mnt/with space",
		`/tab\011and\134slash`: "/tab\tand\\slash",
		`/trailing\04`:         `/trailing\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReadWhileApplying reads current/ through the kernel while events are
// applied: every read returns one complete version, never a mix, and the
// last version is visible when the writer stops.
func TestReadWhileApplying(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	version := func(i int) string { return strings.Repeat(fmt.Sprintf("v%06d|", i), 2000) }
	w.put("hot.txt", version(0))
	m := mountT(t, p)
	path := filepath.Join(m.Dir(), "current/hot.txt")
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				errc <- err
				return
			}
			s := string(b)
			if len(s) != len(version(0)) || s != strings.Repeat(s[:8], 2000) {
				errc <- fmt.Errorf("torn read: %.40q... (%d bytes)", s, len(s))
				return
			}
		}
	}()
	const n = 300
	for i := 1; i <= n; i++ {
		w.put("hot.txt", version(i))
	}
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != version(n) {
		t.Errorf("after the writer stopped: %.20q, %v", b, err)
	}
}

// TestUnmountOfABusyViewCompletes: a process with its working directory
// in the view and one holding a file open must not stop Unmount: it
// returns within its bound, the mount point is free again, and the
// holders are cut off (ENOTCONN) instead of keeping the server alive.
func TestUnmountOfABusyViewCompletes(t *testing.T) {
	requireFUSE(t)
	p, _ := sampleProject(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	m, err := Mount(dir, p, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	var names []string
	filepath.WalkDir(filepath.Join(dir, "current"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if len(names) == 0 {
		t.Fatal("no file in the sample view")
	}
	holders := []*exec.Cmd{
		exec.Command("sh", "-c", "cd "+dir+"/current && exec sleep 300"),
		exec.Command("sh", "-c", "exec sleep 300 < "+names[0]),
	}
	for _, h := range holders {
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { h.Process.Kill(); h.Wait() }()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", holders[0].Process.Pid))
		fd, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", holders[1].Process.Pid))
		if strings.HasPrefix(cwd, dir) && strings.HasPrefix(fd, dir) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("holders not in the view: cwd %q, fd %q", cwd, fd)
		}
	}
	start := time.Now()
	if err := m.Unmount(); err != nil {
		t.Errorf("Unmount of a busy view: %v", err)
	}
	if took := time.Since(start); took > DefaultUnmountWait+time.Second {
		t.Errorf("Unmount of a busy view took %v", took)
	}
	if _, ok := mountedFS(dir); ok {
		t.Error("the busy view is still mounted at its mount point")
	}
	if _, err := os.ReadDir(fmt.Sprintf("/proc/%d/cwd", holders[0].Process.Pid)); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("the holder's working directory after Unmount: %v, want ENOTCONN (connection aborted)", err)
	}
	// The mount point is free for the next bridge at once.
	m2, err := Mount(dir, p, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Mount again over the detached view: %v", err)
	}
	if err := m2.Unmount(); err != nil {
		t.Error(err)
	}
}
