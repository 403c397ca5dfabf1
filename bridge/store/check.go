package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Severity orders what Check finds.
type Severity int

// Severities, mildest first.
const (
	// Warning: the store would start, but something deserves a look.
	Warning Severity = iota + 1
	// Lost: the file is sound, but events it once held are gone or it is
	// another log (its high-water mark disagrees); the bridge refuses it.
	Lost
	// Damaged: the file itself is damaged; restore it from a backup.
	Damaged
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Lost:
		return "lost"
	case Damaged:
		return "damaged"
	}
	return "info"
}

// Finding is one thing Check found.
type Finding struct {
	Severity Severity
	Message  string
}

// Report is what Check found in an event store file.
type Report struct {
	Path   string // the bbolt file
	Size   int64
	Events uint64 // events in the log
	Last   uint64 // sequence of the last event
	LastID string // its ID
	Origin string // ID of the first event
	// Buckets counts the keys of every top-level bucket.
	Buckets  map[string]int
	Findings []Finding

	// IDs holds the event IDs at the sequences CheckOptions.IDsAt asked
	// for ("" where the log has no such event).
	IDs map[uint64]string

	walked   bool       // the events bucket was read to its end
	mark     *HighWater // the store directory's high-water mark
	idAtMark string     // the log's event ID at mark.Sequence
}

// Worst is the most severe finding's severity, 0 when there is none.
func (r *Report) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w
}

// maxFindings bounds the findings of one kind a report lists.
const maxFindings = 20

func (r *Report) add(sev Severity, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{sev, fmt.Sprintf(format, args...)})
}

// CheckOptions tune Check.
type CheckOptions struct {
	// LockTimeout is how long Check waits for the file's (shared) lock.
	// Default 500ms.
	LockTimeout time.Duration
	// IDsAt asks for the event IDs at these sequences (Report.IDs), say
	// those of snapshot files.
	IDsAt []uint64
}

// Check examines the event store at path (a store directory or a bbolt
// file, say a backup) without writing to it: the page structure, bbolt's
// own consistency check (Tx.Check), the continuity of the sequence (from
// 1, no gap, each event decoding to its own sequence), the indexes
// against the events, and, for a directory, the high-water mark. A store
// held by a running bridge cannot be checked (ErrLocked): check a backup
// copy instead. The error is for a check that could not run; what it
// found is in the report.
func Check(path string, opts CheckOptions) (*Report, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 500 * time.Millisecond
	}
	dir, file := path, filepath.Join(path, FileName)
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if fi.Mode().IsRegular() {
		dir, file = "", path
	}
	r := &Report{Path: file, Buckets: map[string]int{}, IDs: map[uint64]string{}}
	for _, seq := range opts.IDsAt {
		r.IDs[seq] = ""
	}
	if dir != "" {
		hw, ok, err := ReadHighWater(dir)
		if err != nil {
			r.add(Warning, "%v (the bridge ignores it)", err)
		} else if ok {
			r.mark = &hw
		}
	}
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.add(Warning, "there is no %s: the store holds no event log", file)
	case err != nil:
		return nil, err
	case fi.Size() == 0:
		r.add(Warning, "%s is empty (0 bytes): it holds no event log", file)
	default:
		r.Size = fi.Size()
		if err := r.checkFile(file, opts.LockTimeout); err != nil {
			return nil, err
		}
	}
	if r.mark != nil && (r.walked || r.Size == 0) && (r.Last < r.mark.Sequence || r.idAtMark != r.mark.EventID) {
		r.add(Lost, "%v", &LostError{Path: filepath.Join(dir, HighWaterFile), Mark: *r.mark, Last: r.Last,
			IDAtMark: r.idAtMark, EventFile: file})
	}
	return r, nil
}

// checkFile runs every check of the bbolt file.
func (r *Report) checkFile(file string, lockTimeout time.Duration) error {
	// bbolt first: its shared lock keeps a running bridge from writing
	// while the file is read (and a running bridge's lock fails it).
	db, err := openBolt(file, &bolt.Options{ReadOnly: true, Timeout: lockTimeout, PreLoadFreelist: true})
	if errors.Is(err, ErrDamaged) {
		r.add(Damaged, "%v", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkFileStructure(file, true); err != nil {
		r.add(Damaged, "page structure: %v", err)
		return nil
	}
	err = guarded(file, func() error {
		return db.View(func(tx *bolt.Tx) error {
			n := 0
			for err := range tx.Check() {
				if n++; n <= maxFindings {
					r.add(Damaged, "bbolt consistency check: %v", err)
				}
			}
			if n > maxFindings {
				r.add(Damaged, "bbolt consistency check: %d more findings", n-maxFindings)
			}
			// The structure check passed, so the walk is safe; a panic in
			// it is reported as damage.
			return r.checkLog(tx)
		})
	})
	if err != nil {
		r.add(Damaged, "%v", err)
	}
	return nil
}

// checkLog checks the events bucket and the indexes.
func (r *Report) checkLog(tx *bolt.Tx) error {
	tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		r.Buckets[string(name)] = b.Stats().KeyN
		return nil
	})
	events := tx.Bucket(bucketEvents)
	if events == nil {
		r.add(Damaged, "there is no %q bucket: this is not a lighthouse event store", bucketEvents)
		return nil
	}
	wantIndex := make([]int, len(indexes))
	problems := 0
	problem := func(format string, args ...any) {
		if problems++; problems <= maxFindings {
			r.add(Damaged, format, args...)
		}
	}
	var prev uint64
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var e Event
		if err := decodeEvent(k, v, &e); err != nil {
			problem("%v", err)
			if len(k) != 8 {
				continue
			}
		}
		seq := binary.BigEndian.Uint64(k)
		if seq <= prev && r.Events > 0 {
			problem("event %d comes after event %d: the tree is out of order (the walk stops)", seq, prev)
			break
		}
		if seq != prev+1 {
			problem("sequence gap: event %d follows %d", seq, prev)
		}
		if seq == 1 {
			r.Origin = e.ID
		}
		if e.ID == "" {
			problem("event %d has no event_id", seq)
		}
		prev, r.Last, r.LastID = seq, seq, e.ID
		if r.mark != nil && seq == r.mark.Sequence {
			r.idAtMark = e.ID
		}
		if _, ok := r.IDs[seq]; ok {
			r.IDs[seq] = e.ID
		}
		r.Events++
		for i, ix := range indexes {
			if ix.field(&e) != "" {
				wantIndex[i]++
			}
		}
	}
	for i, ix := range indexes {
		b := tx.Bucket(ix.bucket)
		if b == nil {
			r.add(Warning, "index %s is missing (the bridge rebuilds it at start)", ix.bucket)
			continue
		}
		got := 0
		ic := b.Cursor()
		var prevKey []byte
		for k, _ := ic.First(); k != nil; k, _ = ic.Next() {
			if prevKey != nil && bytes.Compare(k, prevKey) <= 0 {
				problem("index %s is out of order at %q (the walk stops)", ix.bucket, k)
				break
			}
			prevKey = k
			got++
			// The value, a 0 byte, the 8-byte sequence.
			if len(k) < 9 || k[len(k)-9] != 0 {
				problem("index %s: key %q is not value, 0, sequence", ix.bucket, k)
				continue
			}
			value, seqb := k[:len(k)-9], k[len(k)-8:]
			v := events.Get(seqb)
			var e Event
			if v == nil || decodeEvent(seqb, v, &e) != nil || ix.field(&e) != string(value) {
				problem("index %s lists event %d under %q, which the event does not have", ix.bucket, binary.BigEndian.Uint64(seqb), value)
			}
		}
		if got != wantIndex[i] {
			problem("index %s has %d entries for %d events that carry the field", ix.bucket, got, wantIndex[i])
		}
	}
	if problems > maxFindings {
		r.add(Damaged, "%d more problems in the log and its indexes", problems-maxFindings)
	}
	r.walked = true
	return nil
}
