package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles lighthouse-bridge into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "lighthouse-bridge")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// testSecretFor is a secret for a test's bridge: a hash of its name, so
// it passes the secret rule (config.CheckSecret) and differs per test.
func testSecretFor(name string) string {
	sum := sha256.Sum256([]byte("lighthouse-bridge test " + name))
	return hex.EncodeToString(sum[:])
}

// TestSignalsShutDownCleanlyAndLockExcludesASecondProcess runs the real
// binary: a second serve on the same store fails fast naming the lock, and
// SIGTERM (then SIGINT on a restart) ends the first with exit status 0.
func TestSignalsShutDownCleanlyAndLockExcludesASecondProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	secret := testSecretFor("process")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := startBinary(t, bin, dir, secret)

		second := exec.Command(bin, "serve")
		second.Env = append(p.cmd.Env[:0:0], p.cmd.Env...)
		for i, kv := range second.Env {
			if strings.HasPrefix(kv, "LIGHTHOUSE_PORT=") {
				second.Env[i] = "LIGHTHOUSE_PORT=1" // never reached: the lock fails first
			}
		}
		var errb bytes.Buffer
		second.Stderr = &errb
		t0 := time.Now()
		err := second.Run()
		if err == nil || !strings.Contains(errb.String(), "is locked by another lighthouse-bridge process") {
			t.Fatalf("second process: %v\n%s", err, errb.String())
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("second process took %v to fail", time.Since(t0))
		}

		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v: exit %v, want 0", sig, err)
			}
		case <-time.After(15 * time.Second):
			p.kill()
			t.Fatalf("%v: still running after 15s", sig)
		}
	}
}
