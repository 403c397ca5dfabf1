package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// childEnv turns the test binary into a child that writes a large
// snapshot into the given directory and stops half way, waiting for
// SIGKILL.
const childEnv = "LIGHTHOUSE_SNAPSHOT_TEST_CHILD"

const childPayload = 64 << 20

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		s, err := Open(dir, 3)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		s.testHookWrite = func(n int64) {
			if n >= childPayload/2 {
				fmt.Println("half written")
				select {}
			}
		}
		s.Write(&Snapshot{Seq: 200, Sections: map[string][]byte{"big": bytes.Repeat([]byte("x"), childPayload)}})
		fmt.Println("write finished: the test did not kill in time")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func sample(seq uint64) *Snapshot {
	return &Snapshot{
		Seq:     seq,
		LogID:   logID(seq),
		Created: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Sections: map[string][]byte{
			"shadow":   []byte(fmt.Sprintf("shadow state at %d", seq)),
			"sessions": {0, 1, 2, 255},
			"empty":    {},
		},
	}
}

// logID is the event ID at seq of the log the tests' snapshots are taken from.
func logID(seq uint64) string { return fmt.Sprintf("event-%d", seq) }

func thisLog(seq uint64) (string, error) { return logID(seq), nil }

func TestRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := sample(42)
	path, err := s.Write(want)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "snapshot-00000000000000000042.lhsnap" {
		t.Errorf("file name %s", path)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v, want 0600 (it holds sessions)", fi.Mode().Perm())
	}
}

func TestLatestSkipsDamage(t *testing.T) {
	s, _ := Open(t.TempDir(), 10)
	for _, seq := range []uint64{10, 20, 30, 40, 50} {
		if _, err := s.Write(sample(seq)); err != nil {
			t.Fatal(err)
		}
	}
	file := func(seq uint64) string { return filepath.Join(s.Dir(), fileName(seq)) }
	// 50: truncated; 40: one bit flipped in the payload; 30: header's
	// sequence does not match its name (renamed by hand).
	b, _ := os.ReadFile(file(50))
	os.WriteFile(file(50), b[:len(b)-3], 0o600)
	b, _ = os.ReadFile(file(40))
	b[len(b)-1] ^= 1
	os.WriteFile(file(40), b, 0o600)
	os.Rename(file(30), file(35))
	os.WriteFile(file(45), []byte("LHSNAP"), 0o600)

	got, warnings, err := s.Latest(1000, thisLog)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Seq != 20 {
		t.Fatalf("Latest = %+v, want the snapshot of 20", got)
	}
	if len(warnings) != 4 {
		t.Errorf("warnings = %v, want 4 (50 truncated, 45 short, 40 checksum, 35 wrong sequence)", warnings)
	}
	for _, w := range warnings {
		if !errors.Is(w, ErrCorrupt) {
			t.Errorf("warning %v does not wrap ErrCorrupt", w)
		}
	}
	// A store restored from an older backup must not take a newer snapshot.
	got, warnings, _ = s.Latest(15, thisLog)
	if got == nil || got.Seq != 10 || len(warnings) != 5 {
		t.Errorf("Latest(15) = %v, %v", got, warnings)
	}
	got, _, _ = s.Latest(5, thisLog)
	if got != nil {
		t.Errorf("Latest(5) = %v, want none", got)
	}
}

func TestPrune(t *testing.T) {
	s, _ := Open(t.TempDir(), 2)
	for _, seq := range []uint64{1, 2, 3, 4} {
		s.Write(sample(seq))
	}
	os.WriteFile(filepath.Join(s.Dir(), ".snapshot-123.tmp"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(s.Dir(), "unrelated.txt"), []byte("keep me"), 0o600)
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	var names []string
	des, _ := os.ReadDir(s.Dir())
	for _, de := range des {
		names = append(names, de.Name())
	}
	want := []string{fileName(3), fileName(4), "unrelated.txt"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("after prune (-want +got):\n%s", diff)
	}
}

// TestKillDuringWrite kills a process with SIGKILL while it writes a
// snapshot: the directory still yields the previous snapshot, and the
// half-written temporary file is never taken for a snapshot.
func TestKillDuringWrite(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, 3)
	if _, err := s.Write(sample(100)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "half written\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	temps, _ := filepath.Glob(filepath.Join(dir, tempPat))
	if len(temps) != 1 {
		t.Fatalf("temporary files after the kill: %v, want the one half-written", temps)
	}
	if fi, _ := os.Stat(temps[0]); fi.Size() < childPayload/2 || fi.Size() >= childPayload {
		t.Errorf("temporary file has %d bytes, want a partial write", fi.Size())
	}
	got, warnings, err := s.Latest(1000, thisLog)
	if err != nil || got == nil || got.Seq != 100 || len(warnings) != 0 {
		t.Fatalf("Latest after kill = %+v, %v, %v; want snapshot 100", got, warnings, err)
	}
	if diff := cmp.Diff(sample(100).Sections, got.Sections); diff != "" {
		t.Errorf("sections:\n%s", diff)
	}
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if temps, _ := filepath.Glob(filepath.Join(dir, tempPat)); len(temps) != 0 {
		t.Errorf("Prune left %v", temps)
	}
	_, err = os.Stat(filepath.Join(dir, fileName(200)))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("snapshot 200 exists after its writer was killed: %v", err)
	}
}

// writeV1 writes a snapshot file of format 1 (no log identity), as older
// versions did.
func writeV1(t *testing.T, path string, seq uint64, sections map[string][]byte) {
	t.Helper()
	payload := binary.AppendUvarint(nil, uint64(len(sections)))
	for n, d := range sections {
		payload = binary.AppendUvarint(payload, uint64(len(n)))
		payload = append(payload, n...)
		payload = binary.AppendUvarint(payload, uint64(len(d)))
		payload = append(payload, d...)
	}
	hdr := make([]byte, headerLen)
	copy(hdr, magicV1[:])
	binary.BigEndian.PutUint64(hdr[8:], seq)
	binary.BigEndian.PutUint64(hdr[16:], 1)
	binary.BigEndian.PutUint64(hdr[24:], uint64(len(payload)))
	sum := sha256.Sum256(append(append([]byte(nil), hdr[8:32]...), payload...))
	copy(hdr[32:], sum[:])
	if err := os.WriteFile(path, append(hdr, payload...), 0o600); err != nil {
		t.Fatal(err)
	}
}

type blob struct{ data []byte }

func (*blob) SnapshotName() string               { return "shadow" }
func (b *blob) MarshalSnapshot() ([]byte, error) { return b.data, nil }
func (b *blob) RestoreSnapshot(d []byte) error   { b.data = d; return nil }

// TestSnapshotsOfAnotherLogAreSkipped: a snapshot is used only with the
// log whose event at its sequence has the snapshot's log identity; others,
// and format 1 files without one, are skipped with a warning saying why.
func TestSnapshotsOfAnotherLogAreSkipped(t *testing.T) {
	s, _ := Open(t.TempDir(), 10)
	for _, seq := range []uint64{10, 20, 30} {
		if _, err := s.Write(sample(seq)); err != nil {
			t.Fatal(err)
		}
	}
	writeV1(t, filepath.Join(s.Dir(), fileName(25)), 25, sample(25).Sections)
	if old, err := Read(filepath.Join(s.Dir(), fileName(25))); err != nil || old.LogID != "" || string(old.Sections["shadow"]) != "shadow state at 25" {
		t.Fatalf("format 1 file: %+v, %v", old, err)
	}
	// A log that shares events up to 20 with the snapshots' log, then
	// differs (a different store, or one restored from an older backup
	// and written to since).
	forked := func(seq uint64) (string, error) {
		if seq <= 20 {
			return logID(seq), nil
		}
		return fmt.Sprintf("other-%d", seq), nil
	}
	c := &blob{}
	seq, warnings, err := s.Restore(1000, forked, c)
	if err != nil || seq != 20 || string(c.data) != "shadow state at 20" {
		t.Fatalf("Restore = %d, %q, %v; want the snapshot of 20", seq, c.data, err)
	}
	if len(warnings) != 2 || !errors.Is(warnings[0], ErrOtherLog) || !errors.Is(warnings[1], ErrOtherLog) ||
		!strings.Contains(warnings[0].Error(), "taken from another event log") || !strings.Contains(warnings[1].Error(), "no log identity") {
		t.Errorf("warnings = %v, want 30 from another log, 25 without identity", warnings)
	}
	// A wholly different log: nothing is used, the caller replays all.
	other := func(seq uint64) (string, error) { return fmt.Sprintf("other-%d", seq), nil }
	got, warnings, err := s.Latest(1000, other)
	if err != nil || got != nil || len(warnings) != 4 {
		t.Errorf("Latest on another log = %v, %v, %v; want none and 4 warnings", got, warnings, err)
	}
	// The store cannot say what its event is: skipped, not trusted.
	broken := func(uint64) (string, error) { return "", errors.New("disk on fire") }
	if seq, warnings, _ := s.Restore(1000, broken, &blob{}); seq != 0 || len(warnings) != 4 || !strings.Contains(warnings[0].Error(), "disk on fire") {
		t.Errorf("Restore with an unreadable store = %d, %v", seq, warnings)
	}
}

// writeV2 writes a snapshot file of format 2 (a log identity, no origin),
// as the version before shadow contents moved to the event store did.
func writeV2(t *testing.T, path string, seq uint64, logID string, sections map[string][]byte) {
	t.Helper()
	payload := binary.AppendUvarint(nil, uint64(len(logID)))
	payload = append(payload, logID...)
	payload = binary.AppendUvarint(payload, uint64(len(sections)))
	for n, d := range sections {
		payload = binary.AppendUvarint(payload, uint64(len(n)))
		payload = append(payload, n...)
		payload = binary.AppendUvarint(payload, uint64(len(d)))
		payload = append(payload, d...)
	}
	hdr := make([]byte, headerLen)
	copy(hdr, magicV2[:])
	binary.BigEndian.PutUint64(hdr[8:], seq)
	binary.BigEndian.PutUint64(hdr[16:], 1)
	binary.BigEndian.PutUint64(hdr[24:], uint64(len(payload)))
	sum := sha256.Sum256(append(append([]byte(nil), hdr[8:32]...), payload...))
	copy(hdr[32:], sum[:])
	if err := os.WriteFile(path, append(hdr, payload...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOlderFormatsAreReadButNotRestored: a format 2 file of this very log
// (its sections from before shadow contents moved to the event store) is
// read, with its log identity and no origin, so CheckLog still knows a
// log existed; Restore and Inspect skip it with a warning naming the
// format, and an older format 3 file (or a full replay) is used instead.
func TestOlderFormatsAreReadButNotRestored(t *testing.T) {
	s, _ := Open(t.TempDir(), 10)
	if _, err := s.Write(sample(10)); err != nil {
		t.Fatal(err)
	}
	writeV2(t, filepath.Join(s.Dir(), fileName(20)), 20, logID(20), sample(20).Sections)
	old, err := Read(filepath.Join(s.Dir(), fileName(20)))
	if err != nil || old.Format != 2 || old.LogID != logID(20) || old.Origin != "" {
		t.Fatalf("format 2 file: %+v, %v", old, err)
	}
	if cur, err := Read(filepath.Join(s.Dir(), fileName(10))); err != nil || cur.Format != Format {
		t.Fatalf("written file: %+v, %v", cur, err)
	}
	c := &blob{}
	seq, warnings, err := s.Restore(1000, thisLog, c)
	if err != nil || seq != 10 || string(c.data) != "shadow state at 10" {
		t.Fatalf("Restore = %d, %q, %v; want the format %d snapshot of 10", seq, c.data, err, Format)
	}
	if len(warnings) != 1 || !errors.Is(warnings[0], ErrOldFormat) || !strings.Contains(warnings[0].Error(), "format 2") {
		t.Errorf("warnings = %v, want one about format 2", warnings)
	}
	files, _, err := Inspect(s.Dir(), Log{Last: 1000, Origin: ""}, thisLog)
	if err != nil || len(files) != 2 || !errors.Is(files[0].Problem, ErrOldFormat) || files[1].Problem != nil {
		t.Errorf("Inspect = %+v, %v; want 20 skipped for its format, 10 usable", files, err)
	}
	// An emptied log is still refused on the strength of the format 2 file.
	os.Remove(filepath.Join(s.Dir(), fileName(10)))
	if _, err := s.CheckLog(Log{}); !errors.Is(err, ErrNotThisLog) {
		t.Errorf("CheckLog of an empty log next to a format 2 snapshot: %v", err)
	}
}
