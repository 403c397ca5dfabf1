package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File layout (all integers big-endian):
//
//	0   8  magic "LHSNAP" + format version (0x00 0x03)
//	8   8  sequence covered: every event up to and including it
//	16  8  creation time, Unix nanoseconds
//	24  8  payload length in bytes
//	32 32  SHA-256 of bytes 8..32 followed by the payload
//	64  -  payload: uvarint log identity length, log identity (format 2
//	       and 3), uvarint origin length, origin (format 3), uvarint
//	       section count, then per section uvarint name length, name,
//	       uvarint data length, data
//
// Format 3 arrived with shadow contents moving into the event store: its
// sections are of that release (the shadow section refers to contents by
// hash, layout 2 of the shadow codec) and it records the log's origin.
// Older files are still read (format 1 with an empty LogID, format 2 with
// an empty Origin), so CheckLog can still tell an emptied log from them,
// but Restore skips them with a warning: their shadow section copies
// every content, and the log is replayed instead.
const (
	headerLen = 64
	filePref  = "snapshot-"
	fileExt   = ".lhsnap"
	tempPat   = ".snapshot-*.tmp"
)

// Format is the format version Write writes and Restore uses.
const Format = 3

var (
	magic   = [8]byte{'L', 'H', 'S', 'N', 'A', 'P', 0, Format}
	magicV2 = [8]byte{'L', 'H', 'S', 'N', 'A', 'P', 0, 2}
	magicV1 = [8]byte{'L', 'H', 'S', 'N', 'A', 'P', 0, 1}
)

// ErrCorrupt is wrapped by every error about a snapshot file's content:
// bad magic, wrong length, checksum mismatch, malformed sections.
var ErrCorrupt = errors.New("snapshot corrupt")

// Snapshot is the state of the bridge's components as of event Seq.
type Snapshot struct {
	Seq uint64
	// LogID identifies the event log the snapshot was taken from: the ID
	// of the log's event at Seq. Event IDs are unique per log and a backup
	// copy keeps them, so a snapshot is restored only onto the log it
	// describes (or a copy of it), never onto another store's log that
	// merely reaches the same sequence. Empty for format 1 files.
	LogID string
	// Origin is the ID of the log's first event (sequence 1): it names
	// the log whatever its length, so a snapshot can tell its own log
	// (or a backup of it, even an older one) from another store's or an
	// emptied one (see CheckLog). Empty for format 1 and 2 files.
	Origin string
	// Format is the file's format version (1 to Format).
	Format   int
	Created  time.Time
	Sections map[string][]byte // by component name
	Path     string            // the file it was read from or written to
}

// Component is a projection that can be snapshotted.
// *shadow.Projection is one.
type Component interface {
	SnapshotName() string
	MarshalSnapshot() ([]byte, error)
	RestoreSnapshot([]byte) error
}

// Capturer is a Component whose state can be taken cheaply on the apply
// path and encoded later, off it. The server calls CaptureSnapshot right
// after the event of the snapshot's sequence is applied, while no other
// event is applied, so it must be quick (no encoding of the whole state);
// the function it returns runs later on another goroutine, concurrently
// with Apply, and returns exactly the bytes MarshalSnapshot would have
// returned at the capture. A Component that is not a Capturer is encoded
// with MarshalSnapshot on the apply path.
type Capturer interface {
	Component
	CaptureSnapshot() func() ([]byte, error)
}

// Store is a directory of snapshot files. It is meant for one writer (the
// server's apply loop); any number of readers may call Latest.
type Store struct {
	dir  string
	keep int
	// testHookWrite, if set, is called after each chunk written to the
	// temporary file; tests use it to be killed mid-write.
	testHookWrite func(written int64)
}

// Open returns the store in dir, creating dir if needed. keep is how many
// snapshots Prune leaves (at least 1; 2 or more lets a damaged newest file
// fall back to the previous one).
func Open(dir string, keep int) (*Store, error) {
	if dir == "" {
		return nil, errors.New("snapshot directory is empty (LIGHTHOUSE_SNAPSHOT_PATH)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot directory: %w", err)
	}
	return &Store{dir: dir, keep: max(keep, 1)}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func fileName(seq uint64) string { return fmt.Sprintf("%s%020d%s", filePref, seq, fileExt) }

// Write stores snap atomically as the snapshot of snap.Seq and returns its
// path. A crash at any point leaves either the complete new file or no new
// file under a snapshot name; a leftover temporary file is ignored by
// Latest and removed by Prune.
func (s *Store) Write(snap *Snapshot) (string, error) {
	names := make([]string, 0, len(snap.Sections))
	for n := range snap.Sections {
		names = append(names, n)
	}
	slices.Sort(names)

	var pre bytes.Buffer // everything of the payload but the section data
	preOf := make([][]byte, len(names))
	var payloadLen int64
	{
		b := binary.AppendUvarint(nil, uint64(len(snap.LogID)))
		b = append(b, snap.LogID...)
		b = binary.AppendUvarint(b, uint64(len(snap.Origin)))
		b = append(b, snap.Origin...)
		b = binary.AppendUvarint(b, uint64(len(names)))
		pre.Write(b)
		payloadLen += int64(len(b))
	}
	for i, n := range names {
		b := binary.AppendUvarint(nil, uint64(len(n)))
		b = append(b, n...)
		b = binary.AppendUvarint(b, uint64(len(snap.Sections[n])))
		preOf[i] = b
		payloadLen += int64(len(b) + len(snap.Sections[n]))
	}
	created := snap.Created
	if created.IsZero() {
		created = time.Now()
	}
	var hdr [headerLen]byte
	copy(hdr[:8], magic[:])
	binary.BigEndian.PutUint64(hdr[8:], snap.Seq)
	binary.BigEndian.PutUint64(hdr[16:], uint64(created.UnixNano()))
	binary.BigEndian.PutUint64(hdr[24:], uint64(payloadLen))
	h := sha256.New()
	h.Write(hdr[8:32])
	h.Write(pre.Bytes())
	for i, n := range names {
		h.Write(preOf[i])
		h.Write(snap.Sections[n])
	}
	copy(hdr[32:], h.Sum(nil))

	tmp, err := os.CreateTemp(s.dir, tempPat)
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := &hookWriter{w: tmp, hook: s.testHookWrite}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.Write(hdr[:])
	bw.Write(pre.Bytes())
	for i, n := range names {
		bw.Write(preOf[i])
		bw.Write(snap.Sections[n])
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("snapshot: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("snapshot: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("snapshot: close %s: %w", tmp.Name(), err)
	}
	final := filepath.Join(s.dir, fileName(snap.Seq))
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	ok = true
	if err := syncDir(s.dir); err != nil {
		return "", err
	}
	snap.Path, snap.Format = final, Format
	return final, nil
}

// hookWriter writes in chunks of at most 1 MiB and calls hook after each.
type hookWriter struct {
	w       *os.File
	hook    func(int64)
	written int64
}

func (h *hookWriter) Write(p []byte) (int, error) {
	if h.hook == nil {
		return h.w.Write(p)
	}
	n := 0
	for len(p) > 0 {
		c := min(len(p), 1<<20)
		m, err := h.w.Write(p[:c])
		n += m
		h.written += int64(m)
		if err != nil {
			return n, err
		}
		h.hook(h.written)
		p = p[c:]
	}
	return n, nil
}

// syncDir makes a rename durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: fsync directory %s: %w", dir, err)
	}
	return nil
}

// Read loads and verifies one snapshot file. Any damage is an error
// wrapping ErrCorrupt.
func Read(path string) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	corrupt := func(format string, args ...any) (*Snapshot, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	if len(b) < headerLen {
		return corrupt("%d bytes, shorter than the header", len(b))
	}
	v1, v2 := bytes.Equal(b[:8], magicV1[:]), bytes.Equal(b[:8], magicV2[:])
	if !v1 && !v2 && !bytes.Equal(b[:8], magic[:]) {
		return corrupt("not a lighthouse snapshot (or another format version)")
	}
	payloadLen := binary.BigEndian.Uint64(b[24:])
	if payloadLen != uint64(len(b)-headerLen) {
		return corrupt("payload is %d bytes, header says %d (truncated?)", len(b)-headerLen, payloadLen)
	}
	h := sha256.New()
	h.Write(b[8:32])
	h.Write(b[headerLen:])
	if !bytes.Equal(h.Sum(nil), b[32:64]) {
		return corrupt("checksum mismatch")
	}
	snap := &Snapshot{
		Format:   int(b[7]),
		Seq:      binary.BigEndian.Uint64(b[8:]),
		Created:  time.Unix(0, int64(binary.BigEndian.Uint64(b[16:]))).UTC(),
		Sections: map[string][]byte{},
		Path:     path,
	}
	p := b[headerLen:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, false
		}
		v := p[k : k+int(n) : k+int(n)]
		p = p[k+int(n):]
		return v, true
	}
	if !v1 {
		id, ok := next()
		if !ok {
			return corrupt("malformed log identity")
		}
		snap.LogID = string(id)
	}
	if !v1 && !v2 {
		origin, ok := next()
		if !ok {
			return corrupt("malformed log origin")
		}
		snap.Origin = string(origin)
	}
	count, k := binary.Uvarint(p)
	if k <= 0 {
		return corrupt("no section count")
	}
	p = p[k:]
	for range count {
		name, ok1 := next()
		data, ok2 := next()
		if !ok1 || !ok2 {
			return corrupt("malformed section table")
		}
		snap.Sections[string(name)] = data
	}
	if len(p) != 0 {
		return corrupt("%d bytes after the last section", len(p))
	}
	return snap, nil
}

type entry struct {
	seq  uint64
	path string
}

// list returns the snapshot files by sequence, newest first.
func (s *Store) list() ([]entry, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var out []entry
	for _, de := range des {
		num, ok := strings.CutPrefix(de.Name(), filePref)
		num, ok2 := strings.CutSuffix(num, fileExt)
		if !ok || !ok2 || !de.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, entry{seq, filepath.Join(s.dir, de.Name())})
	}
	slices.SortFunc(out, func(a, b entry) int { return -cmpU(a.seq, b.seq) })
	return out, nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// LogIdentity returns the ID of the event at sequence seq of the event
// log being restored (the store's event ID). Restore and Latest compare it
// with a snapshot's LogID.
type LogIdentity func(seq uint64) (string, error)

// Latest returns the newest valid snapshot covering at most maxSeq events
// (pass the event store's last sequence: a snapshot ahead of the store,
// say after restoring an older backup, describes events that no longer
// exist) and taken from the log idAt describes. Damaged files, files ahead
// of maxSeq, files without a log identity and files from another log are
// skipped, each with a warning for the caller to log. No usable snapshot
// is (nil, warnings, nil): the caller replays the whole log.
func (s *Store) Latest(maxSeq uint64, idAt LogIdentity) (*Snapshot, []error, error) {
	entries, err := s.list()
	if err != nil {
		return nil, nil, err
	}
	var warnings []error
	for _, e := range entries {
		snap, err := e.load(maxSeq, idAt)
		if err != nil {
			warnings = append(warnings, err)
			continue
		}
		return snap, warnings, nil
	}
	return nil, warnings, nil
}

// ErrOtherLog is wrapped by the warning about a snapshot that has no log
// identity or was taken from another event log than the one restored.
var ErrOtherLog = errors.New("snapshot not of this event log")

// load reads the entry's file and checks that it may be used for a log
// that ends at maxSeq and whose event IDs idAt returns. The error says why
// not, starting "skipping snapshot".
func (e entry) load(maxSeq uint64, idAt LogIdentity) (*Snapshot, error) {
	if e.seq > maxSeq {
		return nil, fmt.Errorf("skipping snapshot %s: it covers sequence %d but the event store ends at %d", e.path, e.seq, maxSeq)
	}
	snap, err := Read(e.path)
	if err == nil && snap.Seq != e.seq {
		err = fmt.Errorf("%w: %s: header says sequence %d", ErrCorrupt, e.path, snap.Seq)
	}
	if err != nil {
		return nil, fmt.Errorf("skipping snapshot: %w", err)
	}
	if snap.LogID == "" {
		return nil, fmt.Errorf("skipping snapshot %s: %w: no log identity (written by an older version)", e.path, ErrOtherLog)
	}
	id, err := idAt(snap.Seq)
	if err != nil {
		return nil, fmt.Errorf("skipping snapshot %s: reading event %d of the event store: %w", e.path, snap.Seq, err)
	}
	if id != snap.LogID {
		return nil, fmt.Errorf("skipping snapshot %s: %w: taken from another event log (its event %d is %q, the event store's is %q)",
			e.path, ErrOtherLog, snap.Seq, snap.LogID, id)
	}
	if snap.Format < Format {
		return nil, fmt.Errorf("skipping snapshot %s: %w: format %d, written before shadow contents moved to the event store "+
			"(its shadow section copies every content) and before snapshots recorded their log's first event; "+
			"the log is replayed instead, and the next snapshot is format %d", e.path, ErrOldFormat, snap.Format, Format)
	}
	return snap, nil
}

// ErrOldFormat is wrapped by the warning about a snapshot of this log
// written in a format before Format, which Restore does not use.
var ErrOldFormat = errors.New("snapshot of an older format")

// Prune removes all but the newest keep snapshot files and any temporary
// file left by an interrupted Write. It must not run concurrently with
// Write.
func (s *Store) Prune() error {
	entries, err := s.list()
	if err != nil {
		return err
	}
	var errs []error
	if len(entries) > s.keep {
		for _, e := range entries[s.keep:] {
			if err := os.Remove(e.path); err != nil {
				errs = append(errs, err)
			}
		}
	}
	temps, _ := filepath.Glob(filepath.Join(s.dir, tempPat))
	for _, t := range temps {
		if err := os.Remove(t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Save snapshots the components as of seq, then prunes; logID is the ID
// of the log's event at seq (see Snapshot.LogID). The caller must make
// sure no event after seq has been applied to any component (call it from
// the loop that applies events).
func (s *Store) Save(seq uint64, logID string, comps ...Component) (*Snapshot, error) {
	snap := &Snapshot{Seq: seq, LogID: logID, Created: time.Now().UTC(), Sections: map[string][]byte{}}
	for _, c := range comps {
		b, err := c.MarshalSnapshot()
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", c.SnapshotName(), err)
		}
		snap.Sections[c.SnapshotName()] = b
	}
	if _, err := s.Write(snap); err != nil {
		return nil, err
	}
	return snap, s.Prune()
}

// Restore loads the newest valid snapshot at or below maxSeq, taken from
// the log idAt describes, that has a section for every component, restores the components from it and
// returns its sequence: the caller replays events after it. seq 0 with a
// nil error means "no usable snapshot, replay everything". An error from a
// component's RestoreSnapshot is returned as is; the components may then
// be partly restored, and the caller must start again from fresh ones and
// replay the whole log.
func (s *Store) Restore(maxSeq uint64, idAt LogIdentity, comps ...Component) (seq uint64, warnings []error, err error) {
	entries, err := s.list()
	if err != nil {
		return 0, nil, err
	}
	for _, e := range entries {
		snap, err := e.load(maxSeq, idAt)
		if err != nil {
			warnings = append(warnings, err)
			continue
		}
		var missing []string
		for _, c := range comps {
			if _, ok := snap.Sections[c.SnapshotName()]; !ok {
				missing = append(missing, c.SnapshotName())
			}
		}
		if len(missing) > 0 {
			warnings = append(warnings, fmt.Errorf("skipping snapshot %s: no section for %s", e.path, strings.Join(missing, ", ")))
			continue
		}
		for _, c := range comps {
			if err := c.RestoreSnapshot(snap.Sections[c.SnapshotName()]); err != nil {
				return 0, warnings, fmt.Errorf("restore %s from %s: %w", c.SnapshotName(), e.path, err)
			}
		}
		return snap.Seq, warnings, nil
	}
	return 0, warnings, nil
}
