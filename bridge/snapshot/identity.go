package snapshot

import (
	"errors"
	"fmt"
	"os"
)

// ErrNotThisLog is wrapped by CheckLog's error when the event log cannot
// be the one the snapshots were taken from: it is empty, or it starts
// with another first event. Starting on it would hide a failed restore or
// a swapped volume behind a bridge that looks healthy.
var ErrNotThisLog = errors.New("the event log is not the one the snapshots were taken from")

// ErrLogBehind is wrapped by CheckLog's warning when the event log ends
// before the newest snapshot: events it once had are missing.
var ErrLogBehind = errors.New("the event log ends before the newest snapshot")

// Log is what CheckLog needs to know of the event log.
type Log struct {
	Last   uint64 // sequence of its last event, 0 when empty
	Origin string // ID of its first event, "" when empty
}

// MismatchError is CheckLog's refusal.
type MismatchError struct {
	Snapshot *Snapshot // the newest readable snapshot
	Log      Log
}

func (e *MismatchError) Error() string {
	if e.Log.Last == 0 {
		return fmt.Sprintf("the event log is empty, but snapshot %s was taken at sequence %d of a log that existed: "+
			"the event store was emptied, deleted or replaced by a new file (a failed restore?)",
			e.Snapshot.Path, e.Snapshot.Seq)
	}
	return fmt.Sprintf("the event log starts with event %q, but snapshot %s was taken at sequence %d of a log that starts "+
		"with %q: the event store holds another store's log", e.Log.Origin, e.Snapshot.Path, e.Snapshot.Seq, e.Snapshot.Origin)
}

func (e *MismatchError) Is(target error) bool { return target == ErrNotThisLog }

// CheckLog holds the event log against the newest snapshot that can be
// read, before anything is restored or replayed. It refuses (an error
// wrapping ErrNotThisLog) an empty log when a snapshot says a log existed,
// and a log whose first event is not the snapshot's log's first event; it
// warns (ErrLogBehind) when the log ends before the snapshot. Snapshots
// written before the origin was recorded (formats 1 and 2) can tell
// neither, and are only warned about when the log is behind them. No
// readable snapshot: nothing to say.
func (s *Store) CheckLog(l Log) (warnings []error, err error) {
	entries, err := s.list()
	if err != nil {
		return nil, err
	}
	var newest *Snapshot
	for _, e := range entries {
		snap, err := Read(e.path)
		if err == nil && snap.Seq == e.seq {
			newest = snap
			break
		}
	}
	if newest == nil {
		return nil, nil
	}
	if newest.Origin != "" && (l.Last == 0 || l.Origin != newest.Origin) {
		return nil, &MismatchError{Snapshot: newest, Log: l}
	}
	if l.Last == 0 && newest.Seq > 0 && newest.Origin == "" {
		// An older snapshot without an origin still says a log existed.
		return nil, &MismatchError{Snapshot: newest, Log: l}
	}
	if newest.Seq > l.Last {
		warnings = append(warnings, fmt.Errorf("%w: it ends at sequence %d, snapshot %s covers up to %d: events %d to %d are missing "+
			"(restored from an older backup?) and their sequence numbers will be given to new events",
			ErrLogBehind, l.Last, newest.Path, newest.Seq, l.Last+1, newest.Seq))
	}
	return warnings, nil
}

// FileReport is what Inspect says of one snapshot file.
type FileReport struct {
	Path string
	Seq  uint64 // from the file name
	// Problem says why Restore would skip the file, nil if it could use it.
	Problem error
}

// Sequences lists the sequences of the snapshot files in dir, newest
// first, without creating dir.
func Sequences(dir string) ([]uint64, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	entries, err := (&Store{dir: dir}).list()
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(entries))
	for i, e := range entries {
		seqs[i] = e.seq
	}
	return seqs, nil
}

// Inspect reads every snapshot file in dir without changing anything and
// says of each whether Restore could use it on the log l (whose event IDs
// idAt returns), newest first; err is CheckLog's verdict, warnings its
// warnings. A dir that does not exist holds no snapshots.
func Inspect(dir string, l Log, idAt LogIdentity) (files []FileReport, warnings []error, err error) {
	if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
		return nil, nil, nil
	}
	s := &Store{dir: dir}
	entries, err := s.list()
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		fr := FileReport{Path: e.path, Seq: e.seq}
		snap, err := e.load(l.Last, idAt)
		switch {
		case err != nil:
			fr.Problem = err
		case snap.Origin != "" && snap.Origin != l.Origin:
			fr.Problem = fmt.Errorf("skipping snapshot %s: %w: its log starts with %q, the event store's with %q", e.path, ErrOtherLog, snap.Origin, l.Origin)
		}
		files = append(files, fr)
	}
	warnings, err = s.CheckLog(l)
	return files, warnings, err
}
