package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// fixture is a store directory with n events and a snapshot at snapAt
// (0: none), closed, in a new directory; it returns the two paths.
func fixture(t *testing.T, n int, snapAt uint64) (events, snaps string) {
	t.Helper()
	dir := t.TempDir()
	events, snaps = filepath.Join(dir, "events"), filepath.Join(dir, "snapshots")
	s, err := store.Open(events, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var all []store.Event
	for i := range n {
		got, err := s.Append(context.Background(), store.Event{Type: fmt.Sprint("t", i%3), AgentID: "a", AggregateID: fmt.Sprint("g", i%5),
			Data: json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("p", 100)))})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if snapAt > 0 {
		ss, err := snapshot.Open(snaps, 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Write(&snapshot.Snapshot{Seq: snapAt, LogID: all[snapAt-1].ID, Origin: all[0].ID,
			Sections: map[string][]byte{"shadow": []byte("{}")}}); err != nil {
			t.Fatal(err)
		}
	}
	return events, snaps
}

// check runs `lighthouse-bridge check` in-process and returns its output
// and exit status.
func check(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := run(t, nil, append([]string{"check"}, args...)...)
	var ee *exitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out + ee.msg, ee.code
	}
	t.Fatalf("check: %v", err)
	return "", -1
}

func TestCheck(t *testing.T) {
	mutate := func(t *testing.T, path string, f func([]byte) []byte) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pageSize := func(b []byte) int { return int(binary.LittleEndian.Uint32(b[16+8:])) }
	newestMeta := func(b []byte) int {
		ps := pageSize(b)
		if binary.LittleEndian.Uint64(b[ps+16+48:]) > binary.LittleEndian.Uint64(b[16+48:]) {
			return ps
		}
		return 0
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, events, snaps string) (storeArg, snapArg string)
		code  int
		want  string
	}{
		{"healthy", func(t *testing.T, ev, sn string) (string, string) { return ev, sn }, checkOK, "is the one start-up restores"},
		{"backup file, no snapshots", func(t *testing.T, ev, sn string) (string, string) {
			return filepath.Join(ev, store.FileName), ""
		}, checkOK, "300 events (sequences 1 to 300"},
		{"truncated", func(t *testing.T, ev, sn string) (string, string) {
			mutate(t, filepath.Join(ev, store.FileName), func(b []byte) []byte {
				used := int(binary.LittleEndian.Uint64(b[newestMeta(b)+16+40:])) * pageSize(b)
				return b[:used/2]
			})
			return ev, sn
		}, checkDamaged, "truncated"},
		{"0-byte with snapshots", func(t *testing.T, ev, sn string) (string, string) {
			os.Remove(filepath.Join(ev, store.HighWaterFile))
			mutate(t, filepath.Join(ev, store.FileName), func([]byte) []byte { return nil })
			return ev, sn
		}, checkLost, "the event log is empty"},
		{"zeroed newest meta", func(t *testing.T, ev, sn string) (string, string) {
			mutate(t, filepath.Join(ev, store.FileName), func(b []byte) []byte {
				m := newestMeta(b)
				clear(b[m : m+pageSize(b)])
				return b
			})
			return ev, ""
		}, checkDamaged, "committed events are missing"},
		{"foreign store with our snapshots", func(t *testing.T, ev, sn string) (string, string) {
			other, _ := fixture(t, 10, 0)
			return other, sn
		}, checkLost, "holds another store's log"},
		{"log behind its newest snapshot", func(t *testing.T, ev, sn string) (string, string) {
			// The same log's snapshot, far ahead of it.
			ss, _ := snapshot.Open(sn, 5)
			snap, err := snapshot.Read(filepath.Join(sn, "snapshot-00000000000000000250.lhsnap"))
			if err != nil {
				t.Fatal(err)
			}
			snap.Seq, snap.LogID = 900, "unknown"
			if _, err := ss.Write(snap); err != nil {
				t.Fatal(err)
			}
			return ev, sn
		}, checkWarnings, "ends before the newest snapshot"},
		{"damaged snapshot file", func(t *testing.T, ev, sn string) (string, string) {
			mutate(t, filepath.Join(sn, "snapshot-00000000000000000250.lhsnap"), func(b []byte) []byte { b[70] ^= 1; return b })
			return ev, sn
		}, checkWarnings, "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, sn := fixture(t, 300, 250)
			storeArg, snapArg := tc.setup(t, ev, sn)
			out, code := check(t, "--store", storeArg, "--snapshots", snapArg)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
}

func TestCheckRefusesALockedStoreAndReadsTheEnvironment(t *testing.T) {
	ev, sn := fixture(t, 5, 0)
	s, err := store.Open(ev, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := run(t, map[string]string{config.EnvEventStorePath: ev, config.EnvSnapshotPath: sn}, "check")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != checkFailed || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), "GET /admin/backup") {
		t.Fatalf("check of a store in use: %v %q", err, out)
	}
	if _, err := run(t, nil, "check"); err == nil || !strings.Contains(err.Error(), config.EnvEventStorePath) {
		t.Errorf("check without a store: %v", err)
	}
}

// TestCheckNeverPanicsOnByteFlips flips bytes all over a store: check
// must always end with an exit status, never a panic.
func TestCheckNeverPanicsOnByteFlips(t *testing.T) {
	ev, _ := fixture(t, 300, 0)
	orig, err := os.ReadFile(filepath.Join(ev, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(orig[16+8:]))
	used := int(binary.LittleEndian.Uint64(orig[16+40:])) * ps
	counts := map[int]int{}
	step := 997
	if testing.Short() {
		step = 4999
	}
	for off := 0; off < used; off += step {
		b := append([]byte(nil), orig[:used]...)
		b[off] ^= 0x5a
		file := filepath.Join(t.TempDir(), "copy.db")
		os.WriteFile(file, b, 0o600)
		_, code := check(t, "--store", file, "--snapshots", "")
		counts[code]++
	}
	t.Logf("exit codes over the flips: %v", counts)
	if counts[checkDamaged] == 0 {
		t.Error("no flip was found damaged")
	}
}

// TestServeOnADamagedStoreSaysWhatToDo runs the real binary on a
// truncated store and on an emptied one with snapshots: it exits 1 at
// once with one message naming LIGHTHOUSE_EVENT_STORE_PATH and the
// backup to restore, not a panic and a goroutine dump.
func TestServeOnADamagedStoreSaysWhatToDo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t, t.TempDir())
	serve := func(events, snaps string) (int, string) {
		cmd := exec.Command(bin, "serve")
		cmd.Env = []string{"LIGHTHOUSE_HOST=127.0.0.1", "LIGHTHOUSE_PORT=1", "LIGHTHOUSE_EVENT_STORE_PATH=" + events,
			"LIGHTHOUSE_SNAPSHOT_PATH=" + snaps, "LIGHTHOUSE_AUTH_SECRET=" + testSecretFor("damaged")}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("serve on a damaged store still running after 20s:\n%s", stderr.String())
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}
	ev, sn := fixture(t, 300, 250)
	b, _ := os.ReadFile(filepath.Join(ev, store.FileName))
	os.WriteFile(filepath.Join(ev, store.FileName), b[:len(b)/8], 0o600)
	for name, dirs := range map[string][2]string{
		"truncated": {ev, sn},
		"emptied":   {t.TempDir(), sn},
	} {
		code, stderr := serve(dirs[0], dirs[1])
		if code != 1 || strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") ||
			!strings.Contains(stderr, config.EnvEventStorePath) || !strings.Contains(stderr, "GET /admin/backup") {
			t.Errorf("serve on a %s store: exit %d\n%s", name, code, stderr)
		}
	}
}

// TestCheckFindsMissingShadowContent: the shadow contents are checked
// too: a store holding them is healthy and says how many; one whose
// content a file_modified event refers to is gone is damaged, naming the
// event and the hash.
func TestCheckFindsMissingShadowContent(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	for i, content := range []string{"package main\n", strings.Repeat("big ", 3000)} {
		e, err := shadow.ModifiedEvent(fmt.Sprintf("f%d.go", i), "builder", []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		sum = e.Blobs[0].Sum()
		if _, err := s.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	out, code := check(t, "--store", dir, "--snapshots", "")
	if code != checkOK || !strings.Contains(out, "2 shadow contents (12013 bytes)") {
		t.Fatalf("healthy store with shadow contents: exit %d\n%s", code, out)
	}
	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("blob_index")).Delete(sum[:]) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, code = check(t, "--store", dir, "--snapshots", "")
	if code != checkDamaged || !strings.Contains(out, fmt.Sprintf("event 2 (file_modified) refers to content sha256 %x", sum)) {
		t.Errorf("a content gone: exit %d, want %d naming event 2\n%s", code, checkDamaged, out)
	}
}
