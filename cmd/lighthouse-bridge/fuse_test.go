package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
)

// TestKill9LeavesAStaleMountTheNextBridgeClears runs the real binary with
// a mount point, kill -9s it (the kernel mount stays, its server gone),
// starts it again on the same mount point and reads the same file with
// cat: the stale mount is cleared and the view is ready again. SIGTERM
// then unmounts.
func TestKill9LeavesAStaleMountTheNextBridgeClears(t *testing.T) {
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
	secret := testSecretFor("fuse")
	key, _ := auth.AgentKey([]byte(secret), "crasher", false)
	mnt := filepath.Join(dir, "mnt")
	env := "LIGHTHOUSE_MOUNT_POINT=" + mnt

	p := startBinaryEnv(t, bin, dir, secret, env)
	tok := p.session(t, key)
	if _, err := p.tokenClient(t, tok, 10*time.Second).PutShadow(context.Background(), "cmd/tool/main.go", []byte("package main // before the crash\n")); err != nil {
		t.Fatalf("PUT: %v", err)
	}
	cat := func() string {
		out, err := exec.Command("cat", filepath.Join(mnt, "current/cmd/tool/main.go")).CombinedOutput()
		if err != nil {
			t.Fatalf("cat: %v %s", err, out)
		}
		return string(out)
	}
	if got := cat(); got != "package main // before the crash\n" {
		t.Fatalf("cat before the crash: %q", got)
	}

	p.kill()
	var st syscall.Stat_t
	if err := syscall.Stat(mnt, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat after kill -9 = %v, want ENOTCONN (a stale mount)", err)
	}

	t0 := time.Now()
	p = startBinaryEnv(t, bin, dir, secret, env) // waits for /status 200, fuse_mount included
	t.Logf("restart over the stale mount ready in %v", time.Since(t0))
	if got := cat(); got != "package main // before the crash\n" {
		t.Fatalf("cat after the restart: %q", got)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "bridge.log"))
	if !strings.Contains(string(log), "cleared a stale FUSE mount") {
		t.Errorf("no stale-mount warning in the log:\n%s", log)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), " "+mnt+" ") {
		t.Fatal("the view is still mounted after SIGTERM")
	}
}
