package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// adminBackup takes a backup of the running bridge as an admin.
func adminBackup(t *testing.T, r *running) []byte {
	t.Helper()
	var backup bytes.Buffer
	if _, err := agentClient(t, r.url, "ops", true).Backup(context.Background(), &backup); err != nil {
		t.Fatalf("backup: %v", err)
	}
	return backup.Bytes()
}

// serveOnce builds a bridge on cfg and serves until it is up, then stops
// it. It returns Serve's start-up error, if any, and the log.
func serveOnce(t *testing.T, cfg config.Config, opts Options) (error, string) {
	t.Helper()
	lb := &logBuf{}
	opts.Logger = quietLogTo(lb)
	b, err := New(cfg, opts)
	if err != nil {
		return err, lb.String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(lb.String(), "lighthouse-bridge serving") {
		select {
		case err := <-done:
			cancel()
			return err, lb.String()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge neither served nor failed:\n%s", lb)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	return nil, lb.String()
}

// restoreInto writes data as events.db in a new, empty event store
// directory (no high-water mark) using the snapshots in snapDir.
func restoreInto(t *testing.T, data []byte, snapDir string) config.Config {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.SnapshotPath = snapDir
	os.MkdirAll(cfg.EventStorePath, 0o700)
	if err := os.WriteFile(filepath.Join(cfg.EventStorePath, store.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSnapshotsTellTheirLogFromOthers: a bridge must not start on an event
// store the snapshots say is not theirs — another store's log (longer or
// shorter than the snapshots), an emptied one — and says what to do; it
// starts on its own backup (an older one with a warning that events are
// missing) and restores its own snapshot.
func TestSnapshotsTellTheirLogFromOthers(t *testing.T) {
	opts := Options{SnapshotEvery: 5, SnapshotKeep: 10}
	// Bridge A: a session and a few writes, snapshotted.
	cfgA := testConfig(t.TempDir())
	a, _ := startOpts(t, cfgA, opts)
	tokA := session(t, a.url, "alice")
	for i := range 6 {
		putFile(t, a.url, tokA, "app/main.go", fmt.Sprintf("// A %d\n", i))
	}
	waitFor(t, "a snapshot of A", func() bool { return a.b.snapper.writtenSeq() > 0 })
	a.shutdown(t)

	// Bridge F: a longer, different log; an early and a late backup.
	cfgF := testConfig(t.TempDir())
	f, _ := startOpts(t, cfgF, opts)
	tokF := session(t, f.url, "bob")
	putFile(t, f.url, tokF, "app/main.go", "// F early\n")
	early := adminBackup(t, f)
	for i := range 12 {
		putFile(t, f.url, tokF, "app/main.go", fmt.Sprintf("// F %d\n", i))
	}
	backup := adminBackup(t, f)
	waitFor(t, "a snapshot of F", func() bool { return f.b.snapper.writtenSeq() > 10 })
	f.shutdown(t)

	refused := func(what string, cfg config.Config, want string) {
		t.Helper()
		err, log := serveOnce(t, cfg, opts)
		if !errors.Is(err, snapshot.ErrNotThisLog) {
			t.Fatalf("%s: Serve = %v, want a refusal wrapping ErrNotThisLog\n%s", what, err, log)
		}
		for _, s := range []string{want, config.EnvEventStorePath, config.EnvSnapshotPath, "GET /admin/backup"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: the refusal does not say %q: %v", what, s, err)
			}
		}
	}
	// F's backup (longer than A's snapshots) with A's snapshots.
	refused("F's backup with A's snapshots", restoreInto(t, backup, cfgA.SnapshotPath), "holds another store's log")
	// A store shorter than every snapshot of F, with F's snapshots.
	refused("A's log (shorter) with F's snapshots", restoreInto(t, mustRead(t, filepath.Join(cfgA.EventStorePath, store.FileName)), cfgF.SnapshotPath),
		"holds another store's log")
	// An emptied store: a 0-byte events.db, and no events.db at all.
	refused("0-byte events.db with F's snapshots", restoreInto(t, nil, cfgF.SnapshotPath), "the event log is empty")
	gone := testConfig(t.TempDir())
	gone.SnapshotPath = cfgF.SnapshotPath
	refused("no events.db with F's snapshots", gone, "the event log is empty")

	// F's own backup with F's snapshots: restored, same state.
	cfg := restoreInto(t, backup, cfgF.SnapshotPath)
	r, log := startOpts(t, cfg, opts)
	if !strings.Contains(log.String(), "snapshot restored") {
		t.Errorf("F's own snapshot was not restored onto its backup:\n%s", log)
	}
	if code, body, _ := do(t, "GET", r.url+"/shadow/app/main.go", tokF, nil); code != 200 || string(body) != "// F 11\n" {
		t.Errorf("app/main.go on F's backup with its snapshots: %d %q", code, body)
	}
	if rep := call(t, "GET", r.url+"/event/query", tokA, ""); rep.code != 401 {
		t.Errorf("A's session token on F's backup: %d %s, want 401", rep.code, rep.raw)
	}
	r.shutdown(t)

	// F's early backup with F's snapshots: starts, warns that events are
	// missing, replays the whole (short) log.
	err, out := serveOnce(t, restoreInto(t, early, cfgF.SnapshotPath), opts)
	if err != nil {
		t.Fatalf("F's early backup with F's snapshots: %v", err)
	}
	if !strings.Contains(out, "ends before the newest snapshot") || strings.Contains(out, "snapshot restored") {
		t.Errorf("F's early backup: want a warning and no snapshot restored:\n%s", out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func quietLogTo(lb *logBuf) *slog.Logger { return slog.New(slog.NewJSONHandler(lb, nil)) }
