package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
)

// TestSIGTERMCompletesWithTheViewBusy runs the real binary with a FUSE
// view, puts one process's working directory in the view and has another
// hold a file of it open, then sends SIGTERM: the bridge must exit 0
// within 5 seconds (the view detached lazily, the store closed), and a
// second bridge must then start on the same store and mount point while
// both processes still hold the old view.
func TestSIGTERMCompletesWithTheViewBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Getenv("LIGHTHOUSE_SKIP_FUSE") == "1" {
		t.Skip("LIGHTHOUSE_SKIP_FUSE=1")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Fatalf("FUSE tests need root and /dev/fuse (%v); set LIGHTHOUSE_SKIP_FUSE=1 to skip them knowingly", err)
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	secret := testSecretFor("shutdown")
	key, _ := auth.AgentKey([]byte(secret), "crasher", false)
	mnt := filepath.Join(dir, "mnt")
	env := "LIGHTHOUSE_MOUNT_POINT=" + mnt
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })

	p := startBinaryEnv(t, bin, dir, secret, env)
	t.Cleanup(p.kill)
	tok := p.session(t, key)
	if _, err := p.tokenClient(t, tok, 10*time.Second).PutShadow(context.Background(), "src/held.txt", []byte("held open\n")); err != nil {
		t.Fatalf("PUT: %v", err)
	}

	// The shells change directory and open the file themselves, after exec.
	cwd := holder(t, "cd "+strconv.Quote(filepath.Join(mnt, "current/src"))+" && exec sleep 300")
	file := holder(t, "exec sleep 300 < "+strconv.Quote(filepath.Join(mnt, "current/src/held.txt")))
	waitFor(t, "a working directory in the view", func() bool {
		d, _ := os.Readlink("/proc/" + strconv.Itoa(cwd.Process.Pid) + "/cwd")
		return strings.HasPrefix(d, mnt)
	})
	waitFor(t, "an open file in the view", func() bool {
		f, _ := os.Readlink("/proc/" + strconv.Itoa(file.Process.Pid) + "/fd/0")
		return strings.HasPrefix(f, mnt)
	})

	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "bridge.log"))
			t.Fatalf("exit after SIGTERM with the view busy: %v\n%s", err, log)
		}
	case <-time.After(5 * time.Second):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-done
		log, _ := os.ReadFile(filepath.Join(dir, "bridge.log"))
		t.Fatalf("SIGTERM did not complete within 5s with the view busy\n%s", log)
	}
	t.Logf("SIGTERM with a busy view completed in %v", time.Since(t0))
	log, _ := os.ReadFile(filepath.Join(dir, "bridge.log"))
	if !strings.Contains(string(log), "detached") {
		t.Errorf("no log line says the busy view was detached:\n%s", log)
	}

	// A replacement takes the store's lock and the mount point while the
	// holders still sit in the old, detached view.
	p2 := startBinaryEnv(t, bin, dir, secret, env)
	t.Cleanup(p2.kill)
	out, err := exec.Command("cat", filepath.Join(mnt, "current/src/held.txt")).CombinedOutput()
	if err != nil || string(out) != "held open\n" {
		t.Fatalf("cat through the replacement's view: %q %v", out, err)
	}
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Wait(); err != nil {
		t.Fatalf("replacement's exit: %v", err)
	}
}

// holder starts sh -c script and kills it at the end of the test.
func holder(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", what)
		}
	}
}
