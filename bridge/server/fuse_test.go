package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// needFUSE fails, rather than skips, when the view cannot be mounted: CI
// runs as root with /dev/fuse, and a silently skipped FUSE test would hide
// a broken view. LIGHTHOUSE_SKIP_FUSE=1 is the explicit opt-out for a
// developer machine without them.
func needFUSE(t testing.TB) {
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

// sh runs a shell command line whose working directory is NOT inside the
// mount: the FUSE server lives in this process, and a chdir into it by a
// forked child can deadlock the Go runtime (see fusefs's tests). Paths are
// passed absolute instead.
func sh(t *testing.T, script string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustSh(t *testing.T, script string, args ...string) string {
	t.Helper()
	out, err := sh(t, script, args...)
	if err != nil {
		t.Fatalf("sh -c %q %v: %v\n%s", script, args, err, out)
	}
	return out
}

func mounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == dir {
			return true
		}
	}
	return false
}

func statusOf(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	st, err := tokenClient(t, url, "").Status(context.Background())
	var e *client.Error
	switch {
	case err == nil:
		return 200, st.Components
	case errors.As(err, &e):
		return e.Status, st.Components
	}
	t.Fatal(err)
	return 0, nil
}

// TestFUSEViewOfTheRunningBridge: files PUT over HTTP are read through the
// kernel with cat, ls -R, grep -r and find, in current/ and history/;
// writes answer EROFS; /status reports the mount from a real stat; the
// FUSE counters reach /metrics; shutdown unmounts.
func TestFUSEViewOfTheRunningBridge(t *testing.T) {
	needFUSE(t)
	cfg := testConfig(t.TempDir())
	cfg.MountPoint = filepath.Join(t.TempDir(), "mnt")
	r, _ := startOpts(t, cfg, Options{})
	mnt := cfg.MountPoint
	if code, comps := statusOf(t, r.url); code != 200 || comps["fuse_mount"] != "ok" {
		t.Fatalf("status: %d %v", code, comps)
	}
	tok := session(t, r.url, "builder")
	s1 := putFile(t, r.url, tok, "src/main.go", "package main\n\n// TODO: flags\n")
	putFile(t, r.url, tok, "src/util/strings.go", "package util\n")
	s3 := putFile(t, r.url, tok, "README.md", "# lighthouse\nTODO: docs\n")
	putFile(t, r.url, tok, "src/main.go", "package main\n\nfunc main() {}\n")

	// A new shadow is visible in current/ at once.
	if out := mustSh(t, `cat "$1"/current/src/main.go`, mnt); out != "package main\n\nfunc main() {}\n" {
		t.Fatalf("cat current: %q", out)
	}
	ls := mustSh(t, `cd / && ls -R "$1"/current`, mnt)
	for _, want := range []string{"README.md", "src", "main.go", "util", "strings.go", "/current/src/util:"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls -R lacks %q:\n%s", want, ls)
		}
	}
	grep := mustSh(t, `grep -r TODO "$1"/current | sed "s|^$1/||" | sort`, mnt)
	if grep != "current/README.md:TODO: docs\n" {
		t.Errorf("grep -r current: %q", grep)
	}
	// As of s3, main.go still had its TODO.
	grep = mustSh(t, `grep -rl TODO "$1"/history/"$2" | sed "s|^$1/||" | sort`, mnt, fmt.Sprint(s3))
	if want := fmt.Sprintf("history/%d/README.md\nhistory/%d/src/main.go\n", s3, s3); grep != want {
		t.Errorf("grep -rl history/%d: %q, want %q", s3, grep, want)
	}
	find := mustSh(t, `find "$1"/history/"$2" -type f | sed "s|^$1/||" | sort`, mnt, fmt.Sprint(s1))
	if want := fmt.Sprintf("history/%d/src/main.go\n", s1); find != want {
		t.Errorf("find history/%d: %q, want %q", s1, find, want)
	}
	// stat: size, read-only modes, the event's time.
	fi, err := os.Stat(filepath.Join(mnt, "current/README.md"))
	if err != nil || fi.Size() != int64(len("# lighthouse\nTODO: docs\n")) || fi.Mode().Perm()&0o222 != 0 || fi.ModTime().IsZero() {
		t.Fatalf("stat README.md: %v %v", fi, err)
	}
	// events/ has one JSON file per event, the shadow ones among them.
	ev := mustSh(t, `cat "$1"/events/* | grep -c file_modified`, mnt)
	if strings.TrimSpace(ev) != "4" {
		t.Errorf("events/ with file_modified: %q", ev)
	}

	// Writes, creates, renames, deletes: EROFS, and nothing is stored.
	last := r.b.Store().LastSequence()
	for name, op := range map[string]func() error{
		"write":  func() error { return os.WriteFile(filepath.Join(mnt, "current/README.md"), []byte("x"), 0o644) },
		"create": func() error { return os.WriteFile(filepath.Join(mnt, "current/new.txt"), []byte("x"), 0o644) },
		"rename": func() error {
			return os.Rename(filepath.Join(mnt, "current/README.md"), filepath.Join(mnt, "current/R.md"))
		},
		"remove": func() error { return os.Remove(filepath.Join(mnt, "current/README.md")) },
		"mkdir":  func() error { return os.Mkdir(filepath.Join(mnt, "current/d"), 0o755) },
	} {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s through FUSE: %v, want EROFS", name, err)
		}
	}
	if out, err := sh(t, `echo x > "$1"/current/src/main.go`, mnt); err == nil || !strings.Contains(out, "Read-only file system") {
		t.Errorf("shell redirect into the view: %v %q", err, out)
	}
	if r.b.Store().LastSequence() != last {
		t.Fatal("a refused write stored an event")
	}

	// The operation counters are exported.
	fams, err := tokenClient(t, r.url, "").Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reads := 0.0
	for _, m := range fams["lighthouse_fuse_operations_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["op"] == "read" && labels["result"] == "ok" {
			reads += m.GetCounter().GetValue()
		}
	}
	if reads == 0 {
		t.Errorf("metrics count no FUSE reads: %v", fams["lighthouse_fuse_operations_total"])
	}

	// Readiness comes from a stat through the mount: detach it behind the
	// bridge's back and /status fails.
	if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if code, comps := statusOf(t, r.url); code != 503 || !strings.Contains(comps["fuse_mount"], "does not answer") {
		t.Fatalf("status with the view detached: %d %v", code, comps)
	}
	r.shutdown(t)
	if mounted(mnt) {
		t.Fatal("still mounted after shutdown")
	}

	// A clean restart mounts again and serves the same files.
	r, _ = startOpts(t, cfg, Options{})
	if out := mustSh(t, `cat "$1"/current/src/util/strings.go`, mnt); out != "package util\n" {
		t.Fatalf("after restart: %q", out)
	}
	r.shutdown(t)
	if mounted(mnt) {
		t.Fatal("still mounted after the second shutdown")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// TestNoMountPointRunsWithoutFUSE: with LIGHTHOUSE_MOUNT_POINT empty the
// bridge serves, reports fuse_mount disabled and ready.
func TestNoMountPointRunsWithoutFUSE(t *testing.T) {
	r, _ := startOpts(t, testConfig(t.TempDir()), Options{})
	if code, comps := statusOf(t, r.url); code != 200 || comps["fuse_mount"] != "disabled" {
		t.Fatalf("status: %d %v", code, comps)
	}
	if r.b.FUSE() != nil {
		t.Fatal("mounted without a mount point")
	}
}

// TestUnmountableMountPointFailsStartUp: a mount point that cannot be
// mounted stops start-up with an error naming it, and releases the store.
func TestUnmountableMountPointFailsStartUp(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	cfg := testConfig(dir)
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o600)
	cfg.MountPoint = filepath.Join(file, "mnt") // under a regular file
	b, err := New(cfg, Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(t.Context(), nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), cfg.MountPoint) || !strings.Contains(err.Error(), config.EnvMountPoint) {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not fail")
	}
	// The store lock is released: a bridge starts on it.
	startOpts(t, testConfig(dir), Options{})
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
