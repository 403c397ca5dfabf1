package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/client"
)

// TestReadinessHealsWhenSpaceReturns fills the event store's file system
// (a 16 MiB tmpfs) until a commit fails, sees /status answer 503, frees
// the space and, with no client write at all, sees /status answer 200
// again within seconds: the store probes its own writability.
func TestReadinessHealsWhenSpaceReturns(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("LIGHTHOUSE_SKIP_MOUNT") == "1" {
			t.Skip("LIGHTHOUSE_SKIP_MOUNT=1")
		}
		t.Fatal("mounting a small tmpfs needs root; set LIGHTHOUSE_SKIP_MOUNT=1 to skip this test knowingly")
	}
	dir := t.TempDir()
	fsDir := filepath.Join(dir, "small")
	os.Mkdir(fsDir, 0o700)
	if err := syscall.Mount("tmpfs", fsDir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(fsDir, syscall.MNT_DETACH) })
	cfg := testConfig(dir)
	cfg.EventStorePath = filepath.Join(fsDir, "events")
	r, _ := startOpts(t, cfg, Options{})
	tok := session(t, r.url, "builder")
	status := func() int {
		_, err := tokenClient(t, r.url, "").Status(context.Background())
		var e *client.Error
		switch {
		case err == nil:
			return 200
		case errors.As(err, &e):
			return e.Status
		}
		t.Fatal(err)
		return 0
	}
	if c := status(); c != 200 {
		t.Fatalf("/status before: %d", c)
	}

	// Fill the file system, then write until a commit fails.
	filler := filepath.Join(fsDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{'f'}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	big := strings.Repeat("x", 512<<10)
	failed := false
	for i := range 20 {
		code, body, _ := do(t, "PUT", r.url+fmt.Sprintf("/shadow/big-%d.txt", i), tok, []byte(big))
		if code == 200 {
			continue
		}
		if code != http.StatusServiceUnavailable {
			t.Fatalf("PUT on a full disk: %d %s, want 503", code, body)
		}
		failed = true
		break
	}
	if !failed {
		t.Fatal("no write failed on a full file system")
	}
	// Not ready while the disk stays full, probes or not.
	for range 3 {
		if c := status(); c != http.StatusServiceUnavailable {
			t.Fatalf("/status with the disk full: %d, want 503", c)
		}
		time.Sleep(700 * time.Millisecond)
	}

	// Free the space; no client writes from here on.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	for status() != 200 {
		if time.Since(freed) > 5*time.Second {
			t.Fatal("/status still 503 5s after space came back (no client write)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("/status ready %v after space came back", time.Since(freed).Round(time.Millisecond))
	// And the store takes writes again.
	if code, body, _ := do(t, "PUT", r.url+"/shadow/after.txt", tok, []byte("after")); code != 200 {
		t.Fatalf("PUT after space came back: %d %s", code, body)
	}
}
