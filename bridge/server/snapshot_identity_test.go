package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// TestSnapshotOfAnotherStoreIsNotRestored is QA's case: a backup of bridge
// F started with bridge A's snapshots folder. A's snapshot covers a
// sequence F's log also reaches, but it describes another log: it must be
// skipped with a warning naming why, F's files must be F's and A's session
// token must not be accepted. F's own snapshots, next to the backup,
// still restore.
func TestSnapshotOfAnotherStoreIsNotRestored(t *testing.T) {
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

	// Bridge F: a longer, different log; an admin takes a backup.
	cfgF := testConfig(t.TempDir())
	f, _ := startOpts(t, cfgF, opts)
	tokF := session(t, f.url, "bob")
	for i := range 12 {
		putFile(t, f.url, tokF, "app/main.go", fmt.Sprintf("// F %d\n", i))
	}
	key, _ := auth.AgentKey(secret, "ops", true)
	code, m := post(t, f.url+"/session/create", "", fmt.Sprintf(`{"agent_id":"ops","agent_key":%q}`, key))
	if code != 200 {
		t.Fatalf("admin session: %d %v", code, m)
	}
	code, backup, _ := do(t, "GET", f.url+"/admin/backup", m["session_token"].(string), nil)
	if code != 200 {
		t.Fatalf("backup: %d", code)
	}
	waitFor(t, "a snapshot of F", func() bool { return f.b.snapper.writtenSeq() > 0 })
	f.shutdown(t)

	restoreOn := func(snapDir string) (*running, *logBuf) {
		cfg := testConfig(t.TempDir())
		cfg.SnapshotPath = snapDir
		os.MkdirAll(cfg.EventStorePath, 0o700)
		if err := os.WriteFile(filepath.Join(cfg.EventStorePath, store.FileName), backup, 0o600); err != nil {
			t.Fatal(err)
		}
		return startOpts(t, cfg, opts)
	}

	// F's backup with A's snapshots: every one of A's is skipped.
	r, log := restoreOn(cfgA.SnapshotPath)
	if strings.Contains(log.String(), "snapshot restored") {
		t.Errorf("a snapshot of A was restored onto F's log:\n%s", log)
	}
	if !strings.Contains(log.String(), "taken from another event log") {
		t.Errorf("no warning saying why A's snapshot was skipped:\n%s", log)
	}
	if code, body, _ := do(t, "GET", r.url+"/shadow/app/main.go", tokF, nil); code != 200 || string(body) != "// F 11\n" {
		t.Errorf("app/main.go on F's backup: %d %q, want F's last version", code, body)
	}
	if rep := call(t, "GET", r.url+"/event/query", tokA, ""); rep.code != 401 {
		t.Errorf("A's session token on F's backup: %d %s, want 401", rep.code, rep.raw)
	}
	r.shutdown(t)

	// F's backup with F's own snapshots: restored, same state.
	r, log = restoreOn(cfgF.SnapshotPath)
	if !strings.Contains(log.String(), "snapshot restored") {
		t.Errorf("F's own snapshot was not restored onto its backup:\n%s", log)
	}
	if code, body, _ := do(t, "GET", r.url+"/shadow/app/main.go", tokF, nil); code != 200 || string(body) != "// F 11\n" {
		t.Errorf("app/main.go on F's backup with its snapshots: %d %q", code, body)
	}
}
