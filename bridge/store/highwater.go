package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HighWaterFile is the high-water mark next to the bbolt file: the
// sequence and event ID the log had reached, written (atomically, fsynced)
// about every second while events are appended and at Close. It lives
// outside the bbolt file on purpose: when bbolt loses transactions (a
// zeroed or damaged meta page makes it fall back to the previous one) or
// the file is emptied or replaced, the mark still knows what the log had
// reached, and Open refuses the log instead of handing out the lost
// sequence numbers again. A backup restored into an empty directory has
// no mark, and starts.
const HighWaterFile = "events.db.high-water"

// ErrLost is wrapped by the error of Open when the log ends before its
// high-water mark or holds another event there: events it had are gone.
var ErrLost = errors.New("event log lost events")

// HighWater is the content of HighWaterFile.
type HighWater struct {
	Sequence uint64    `json:"sequence"`
	EventID  string    `json:"event_id"`
	Written  time.Time `json:"written"`
}

// ReadHighWater reads the high-water mark in dir; ok is false when there
// is none.
func ReadHighWater(dir string) (hw HighWater, ok bool, err error) {
	path := filepath.Join(dir, HighWaterFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return HighWater{}, false, nil
	}
	if err != nil {
		return HighWater{}, false, fmt.Errorf("high-water mark: %w", err)
	}
	if len(b) > 4096 {
		return HighWater{}, false, fmt.Errorf("high-water mark %s: %d bytes, not a mark", path, len(b))
	}
	if err := json.Unmarshal(b, &hw); err != nil || hw.Sequence == 0 || hw.EventID == "" {
		return HighWater{}, false, fmt.Errorf("high-water mark %s does not decode: %q", path, b)
	}
	return hw, true, nil
}

// LostError says how the log falls short of its high-water mark.
type LostError struct {
	Path      string    // the high-water mark file
	Mark      HighWater // what it records
	Last      uint64    // where the log ends
	IDAtMark  string    // the log's event ID at Mark.Sequence, "" if it ends before
	EventFile string    // the bbolt file
}

func (e *LostError) Error() string {
	if e.Last < e.Mark.Sequence {
		return fmt.Sprintf("event log %s ends at sequence %d, but it had reached %d (high-water mark %s, written %s): "+
			"committed events are missing (a damaged meta page, or the file was emptied or replaced)",
			e.EventFile, e.Last, e.Mark.Sequence, e.Path, e.Mark.Written.Format(time.RFC3339))
	}
	return fmt.Sprintf("event log %s holds event %q at sequence %d, but the high-water mark %s recorded %q there: "+
		"the file was replaced by another event log",
		e.EventFile, e.IDAtMark, e.Mark.Sequence, e.Path, e.Mark.EventID)
}

func (e *LostError) Is(target error) bool { return target == ErrLost }

// checkHighWater compares the opened log with the mark in dir. A mark
// that cannot be read is logged and ignored: it is a safety net, not data.
func (s *Store) checkHighWater(dir string) error {
	hw, ok, err := ReadHighWater(dir)
	if err != nil {
		s.log.Warn("high-water mark ignored", "error", err.Error())
		return nil
	}
	if !ok {
		return nil
	}
	id, err := s.idAt(hw.Sequence)
	if err != nil {
		return err
	}
	if s.last < hw.Sequence || id != hw.EventID {
		return &LostError{Path: filepath.Join(dir, HighWaterFile), Mark: hw, Last: s.last, IDAtMark: id, EventFile: s.path}
	}
	return nil
}

// idAt is the ID of the event at seq, "" if there is none.
func (s *Store) idAt(seq uint64) (string, error) {
	var id string
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEvents).Get(seqKey(seq))
		if v == nil {
			return nil
		}
		var err error
		if id, err = eventID(v); err != nil {
			return damaged(s.path, err, "event %d does not decode", seq)
		}
		return nil
	})
	return id, err
}

// highWaterLoop brings the mark up to date every hwmEvery while the log
// grows. The mark only ever names durable events, so it never runs ahead
// of the log.
func (s *Store) highWaterLoop(dir string) {
	defer s.background.Done()
	t := time.NewTicker(s.hwmEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.writeHighWater(dir)
		}
	}
}

// writeHighWater records the last applied event as the mark, if it moved.
func (s *Store) writeHighWater(dir string) {
	s.mu.Lock()
	last, id, written := s.last, s.lastID, s.hwmWritten
	s.mu.Unlock()
	if last == 0 || last == written || id == "" {
		return
	}
	hw := HighWater{Sequence: last, EventID: id, Written: s.now().UTC()}
	if err := writeFileAtomic(filepath.Join(dir, HighWaterFile), hw); err != nil {
		s.log.Warn("high-water mark not written", "error", err.Error())
		return
	}
	s.mu.Lock()
	s.hwmWritten = last
	s.mu.Unlock()
}

// writeFileAtomic writes v as JSON to path through a synced temporary
// file and a rename, then syncs the directory.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".high-water-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Origin is the ID of the log's first event (sequence 1), "" while the
// log is empty. It names the log: a backup keeps it, another store's log
// has another one. Snapshots record it (snapshot.Snapshot.Origin).
func (s *Store) Origin() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.origin
}
