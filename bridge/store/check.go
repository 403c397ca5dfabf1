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

	// Blobs and BlobBytes count the content-addressed blobs stored.
	Blobs     int
	BlobBytes int64

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
	// BlobRefs, when set, names the blobs an event refers to (the shadow
	// projection's file_modified events refer to their content), so Check
	// reports every one the store does not hold. An error is a finding
	// about that event. It is called inside the check's read transaction
	// and must not call the store.
	BlobRefs func(e *Event) ([]BlobRef, error)
}

// BlobRef is a blob an event refers to, as CheckOptions.BlobRefs says.
type BlobRef struct {
	Sum [32]byte
	// Inline marks an event of an older version that carries the
	// content itself: its blob is made at the next start (a missing one
	// is a warning, not damage).
	Inline bool
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
		if err := r.checkFile(file, opts); err != nil {
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
func (r *Report) checkFile(file string, opts CheckOptions) error {
	// bbolt first: its shared lock keeps a running bridge from writing
	// while the file is read (and a running bridge's lock fails it).
	db, err := openBolt(file, &bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout, PreLoadFreelist: true})
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
			if err := r.checkLog(tx, opts.BlobRefs); err != nil {
				return err
			}
			r.checkBlobs(tx)
			return nil
		})
	})
	if err != nil {
		r.add(Damaged, "%v", err)
	}
	return nil
}

// checkLog checks the events bucket and the indexes, and that the
// blobs the events refer to (refs, when set) are stored.
func (r *Report) checkLog(tx *bolt.Tx, refs func(*Event) ([]BlobRef, error)) error {
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
	blobIndex := tx.Bucket(bucketBlobIndex)
	var missingBlobs, inlinePending, badRefs int
	var prev uint64
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var e Event
		decoded := true
		if err := decodeEvent(k, v, &e); err != nil {
			problem("%v", err)
			decoded = false
			if len(k) != 8 {
				continue
			}
		}
		if decoded && refs != nil {
			var need []BlobRef
			err := call(func(e *Event) error {
				var err error
				need, err = refs(e)
				return err
			}, &e)
			if err != nil {
				if badRefs++; badRefs <= maxFindings {
					r.add(Warning, "event %d (%s) names no readable content (the projection skips it): %v", e.Sequence, e.Type, err)
				}
			}
			for _, ref := range need {
				if blobIndex != nil && blobIndex.Get(ref.Sum[:]) != nil {
					continue
				}
				switch {
				case ref.Inline:
					inlinePending++
				default:
					if missingBlobs++; missingBlobs <= maxFindings {
						problem("event %d (%s) refers to content sha256 %x, which the store does not hold", e.Sequence, e.Type, ref.Sum)
					}
				}
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
	if badRefs > maxFindings {
		r.add(Warning, "%d more events name no readable content", badRefs-maxFindings)
	}
	if inlinePending > 0 {
		r.add(Warning, "%d events of an older version carry their content inline and it is not yet a blob: the next start of the bridge moves it", inlinePending)
	}
	r.walked = true
	return nil
}

// checkBlobs checks the content-addressed blobs: every index entry
// decodes and has all its chunks, of the right sizes; no chunk belongs to
// no blob; the stored counters agree with the index. A store written
// before blobs existed has none of the buckets (the bridge creates them
// at start).
func (r *Report) checkBlobs(tx *bolt.Tx) {
	index, chunks, meta := tx.Bucket(bucketBlobIndex), tx.Bucket(bucketBlobChunks), tx.Bucket(bucketMeta)
	if index == nil && chunks == nil {
		return
	}
	problems := 0
	problem := func(format string, args ...any) {
		if problems++; problems <= maxFindings {
			r.add(Damaged, format, args...)
		}
	}
	if index == nil || chunks == nil || meta == nil {
		problem("blob buckets incomplete: %s %v, %s %v, %s %v", bucketBlobIndex, index != nil, bucketBlobChunks, chunks != nil, bucketMeta, meta != nil)
		return
	}
	type blob struct {
		sum  [32]byte
		ref  blobRef
		seen uint64 // chunks found
	}
	byID := map[uint64]*blob{}
	var total int64
	var prevKey []byte
	ic := index.Cursor()
	for k, v := ic.First(); k != nil; k, v = ic.Next() {
		if prevKey != nil && bytes.Compare(k, prevKey) <= 0 {
			problem("blob index is out of order at %x (the walk stops)", k)
			break
		}
		prevKey = k
		var sum [32]byte
		if len(k) != len(sum) {
			problem("blob index: key %x is not a SHA-256", k)
			continue
		}
		copy(sum[:], k)
		ref, err := decodeBlobRef(sum, v)
		if err != nil {
			problem("blob index: %v", err)
			continue
		}
		if other, dup := byID[ref.id]; dup {
			problem("blobs %x and %x share number %d", other.sum[:8], sum[:8], ref.id)
			continue
		}
		byID[ref.id] = &blob{sum: sum, ref: ref}
		total += int64(ref.size)
		r.Blobs++
	}
	r.BlobBytes = total
	prevKey = nil
	cc := chunks.Cursor()
	for k, v := cc.First(); k != nil; k, v = cc.Next() {
		if prevKey != nil && bytes.Compare(k, prevKey) <= 0 {
			problem("blob chunks are out of order at %x (the walk stops)", k)
			break
		}
		prevKey = k
		if len(k) != 16 {
			problem("blob chunks: key %x is not (number, index)", k)
			continue
		}
		id, i := binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])
		b := byID[id]
		if b == nil {
			problem("blob chunk %d of blob number %d belongs to no blob in the index", i, id)
			continue
		}
		n := b.ref.chunks()
		want := uint64(b.ref.chunk)
		if i == n-1 {
			want = b.ref.size - i*uint64(b.ref.chunk)
		}
		switch {
		case i >= n:
			problem("blob %x: chunk %d lies past its %d bytes", b.sum[:8], i, b.ref.size)
			continue
		case i > b.seen:
			problem("blob %x: chunk %d is missing", b.sum[:8], b.seen)
		case uint64(len(v)) != want:
			problem("blob %x: chunk %d is %d bytes, want %d", b.sum[:8], i, len(v), want)
		}
		b.seen = i + 1
	}
	var next uint64
	for id, b := range byID {
		if n := b.ref.chunks(); b.seen < n {
			problem("blob %x: chunk %d is missing (it has %d)", b.sum[:8], b.seen, n)
		}
		next = max(next, id+1)
	}
	if v := meta.Get(keyBlobSize); len(v) != 8 || int64(binary.BigEndian.Uint64(v)) != total {
		problem("the stored count of blob bytes (%x) is not the %d bytes the index holds", v, total)
	}
	if v := meta.Get(keyBlobNext); r.Blobs > 0 && (len(v) != 8 || binary.BigEndian.Uint64(v) < next) {
		problem("the next blob number (%x) is not past the largest in use (%d): a new blob would overwrite one", v, next-1)
	}
	if problems > maxFindings {
		r.add(Damaged, "%d more problems in the blobs", problems-maxFindings)
	}
}
