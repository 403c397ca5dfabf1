package snapshot

import (
	"errors"
	"fmt"
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
