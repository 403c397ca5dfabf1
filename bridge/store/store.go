package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the bbolt file inside LIGHTHOUSE_EVENT_STORE_PATH.
const FileName = "events.db"

// MaxBatch bounds how many events share one transaction and fsync, so one
// commit stays short even under a flood of appends.
const MaxBatch = 4096

var bucketEvents = []byte("events")

// Secondary indexes for Query's equality filters. A key is the field's
// value, a 0 byte and the 8-byte sequence; the value is empty.
var (
	bucketByType      = []byte("idx_event_type")
	bucketByAgent     = []byte("idx_agent_id")
	bucketByAggregate = []byte("idx_aggregate_id")
)

// indexes maps each index bucket to the field it holds.
var indexes = []struct {
	bucket []byte
	field  func(*Event) string
}{
	{bucketByType, func(e *Event) string { return e.Type }},
	{bucketByAgent, func(e *Event) string { return e.AgentID }},
	{bucketByAggregate, func(e *Event) string { return e.AggregateID }},
}

// Errors callers can test for.
var (
	ErrClosed = errors.New("event store is closed")
	ErrLocked = errors.New("event store is locked")
)

// lockedError names the locked file; errors.Is(err, ErrLocked) holds.
type lockedError struct{ path string }

func (e lockedError) Error() string {
	return "event store " + e.path + " is locked by another lighthouse-bridge process"
}

func (e lockedError) Is(target error) bool { return target == ErrLocked }

// Options tune Open. The zero value is fine.
type Options struct {
	// LockTimeout is how long Open waits for the file lock before failing.
	// Short, so a second process fails fast. Default 500ms.
	LockTimeout time.Duration
	// Logger receives projection failures. Default slog.Default().
	Logger *slog.Logger
	// Now stamps events. Default time.Now.
	Now func() time.Time
	// OnCommit, if set, is called after each durable batch with its size and
	// the time the commit took (for metrics).
	OnCommit func(events int, took time.Duration)
	// ProbeInterval is how often, after a failed commit, the store probes
	// whether it can commit again (see Healthy). Default 1s.
	ProbeInterval time.Duration
	// HighWaterInterval is how often the high-water mark (HighWaterFile)
	// is brought up to date while events are appended. Default 1s.
	HighWaterInterval time.Duration
	// MaxBlobBytes bounds the distinct blob content stored (see Blob): an
	// append whose new blobs would pass it fails with a *BlobSpaceError
	// and stores nothing. 0 means no limit.
	MaxBlobBytes int64
}

// Store is the append-only event log. All methods are safe for concurrent
// use. Appends go through one writer goroutine that drains a queue into a
// single bbolt transaction per batch: callers wait only for the fsync of
// the batch that carries their event, never on a timer. An applier
// goroutine then feeds the batch to the projections and answers, while the
// writer already commits the next batch.
type Store struct {
	db     *bolt.DB
	path   string
	log    *slog.Logger
	now    func() time.Time
	commit func(int, time.Duration)
	// maxBlob is Options.MaxBlobBytes.
	maxBlob int64
	// mapRead counts bytes read out of the map since the last sweep;
	// sweeping is set while one runs (see mapped).
	mapRead  atomic.Int64
	sweeping atomic.Bool
	sweepAt  int64 // tests: sweep after this many bytes instead of sweepEvery

	queue   chan *request
	applyCh chan applied  // committed (or failed) batches, in commit order
	done    chan struct{} // closed when the writer and the applier have exited

	// sendMu orders Close after every in-flight send to queue, so the
	// queue is never written after it is closed.
	sendMu     sync.RWMutex
	sendClosed bool

	mu          sync.RWMutex // guards the fields below
	closed      bool
	last        uint64
	projections []Projection
	notify      chan struct{} // closed and replaced on every commit
	writeErr    error         // last commit failure, nil once a commit or a probe succeeds
	failures    uint64        // commit failures so far: a probe clears writeErr only if none came after it began
	failedBytes int           // size of the last failed batch's values (the probe's headroom)
	lastID      string        // ID of the event at last
	origin      string        // ID of the event at sequence 1
	hwmWritten  uint64        // sequence of the last high-water mark written
	blobBytes   int64         // distinct blob bytes stored, as of the last commit

	// damage is the damage found at run time (ErrDamaged): appends are
	// refused. Its own lock: reads that find damage may run under mu.
	damageMu sync.Mutex
	damage   error

	probeEvery time.Duration
	probeWake  chan struct{} // a commit failed: start probing
	hwmEvery   time.Duration
	stop       chan struct{} // closed by Close: background loops end
	background sync.WaitGroup

	closeOnce sync.Once
	closed2   chan struct{} // closed when Close has finished
	closeErr  error
}

type request struct {
	events []Event
	parts  []encoded // per event, encoded by the caller before queueing
	// blobs are the events' blobs (or PutBlobs'), written in the same
	// transaction; unlimited exempts them from MaxBlobBytes.
	blobs     []Blob
	unlimited bool
	err       error
	done      chan struct{}
}

// applied is one batch handed from the writer to the applier: its
// requests (those that committed, or all of them with err set) and the
// last sequence it took.
type applied struct {
	batch     []*request
	last      uint64
	blobBytes int64
	err       error
	size      int // bytes of the values of a failed batch
}

// Open opens (creating if needed) the event store in directory dir and
// takes its exclusive lock. A second process gets ErrLocked quickly. A
// file bbolt cannot open, or panics on, is an error wrapping ErrDamaged;
// a log that ends before its high-water mark (HighWaterFile) is an error
// wrapping ErrLost.
func Open(dir string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = time.Second
	}
	if opts.HighWaterInterval <= 0 {
		opts.HighWaterInterval = time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("event store directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	emptyFile := false
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		emptyFile = true
	}
	db, err := openBolt(path, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:         db,
		path:       path,
		log:        opts.Logger,
		now:        opts.Now,
		commit:     opts.OnCommit,
		maxBlob:    max(opts.MaxBlobBytes, 0),
		queue:      make(chan *request, MaxBatch),
		applyCh:    make(chan applied, 1),
		done:       make(chan struct{}),
		notify:     make(chan struct{}),
		probeEvery: opts.ProbeInterval,
		probeWake:  make(chan struct{}, 1),
		hwmEvery:   opts.HighWaterInterval,
		stop:       make(chan struct{}),
		closed2:    make(chan struct{}),
	}
	err = s.update(func(tx *bolt.Tx) error {
		// Nothing in here does I/O (the commit does): an error is about
		// what the file holds.
		if err := s.load(tx); err != nil && !errors.Is(err, ErrDamaged) {
			return damaged(path, err, "%v", err)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err == nil {
		err = s.checkHighWater(dir)
	}
	if err != nil {
		db.Close()
		if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrLost) {
			err = fmt.Errorf("open event store %s: %w", path, err)
		}
		return nil, err
	}
	if emptyFile {
		s.log.Warn("the event store file was empty (0 bytes): it was initialised as a new, empty event log", "path", path)
	}
	removeScratch(dir)
	go s.writer(s.last, s.blobBytes)
	go s.applier()
	s.background.Add(2)
	go s.prober(dir)
	go s.highWaterLoop(dir)
	return s, nil
}

// load reads the log's ends (last sequence and ID, first ID) and
// creates what a new or older store lacks (the events bucket, indexes).
func (s *Store) load(tx *bolt.Tx) error {
	if tx.Bucket(bucketEvents) == nil {
		// A new store has no bucket at all; a bbolt file with buckets but
		// no event log is someone else's.
		var others []string
		tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			others = append(others, fmt.Sprintf("%q", name))
			return nil
		})
		if len(others) > 0 {
			return fmt.Errorf("it is a bbolt file, but not an event store: no %q bucket, only %s", bucketEvents, strings.Join(others, ", "))
		}
	}
	b, err := tx.CreateBucketIfNotExists(bucketEvents)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucketEvents, err)
	}
	if k, v := b.Cursor().Last(); k != nil {
		var e Event
		if err := decodeEvent(k, v, &e); err != nil {
			return err
		}
		s.last, s.lastID = e.Sequence, e.ID
	}
	if v := b.Get(seqKey(1)); v != nil {
		var e Event
		if err := decodeEvent(seqKey(1), v, &e); err != nil {
			return err
		}
		s.origin = e.ID
	}
	if err := ensureIndexes(tx, s.path); err != nil {
		return err
	}
	s.blobBytes, err = openBlobs(tx)
	return err
}

// openBolt opens the bbolt file at path, turning a locked file into
// lockedError and a file bbolt refuses or panics on into ErrDamaged.
func openBolt(path string, opts *bolt.Options) (*bolt.DB, error) {
	var db *bolt.DB
	err := guarded(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	if err == nil {
		// With the lock held, nobody writes the file while it is checked.
		if serr := checkFileStructure(path, false); serr != nil {
			db.Close()
			return nil, damaged(path, serr, "%v", serr)
		}
		return db, nil
	}
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, lockedError{path}
	case errors.Is(err, ErrDamaged):
		// bbolt panicked (its lock is held: nobody else writes). The
		// structure check usually says more precisely what is wrong.
		if serr := checkFileStructure(path, false); serr != nil {
			return nil, damaged(path, serr, "%v", serr)
		}
		return nil, err
	case errors.Is(err, bolt.ErrInvalid):
		return nil, damaged(path, err, "bbolt cannot open it: neither meta page is valid (not a bbolt file, or both meta pages overwritten)")
	case errors.Is(err, bolt.ErrChecksum):
		return nil, damaged(path, err, "bbolt cannot open it: both meta pages fail their checksum")
	case errors.Is(err, bolt.ErrVersionMismatch):
		return nil, damaged(path, err, "bbolt cannot open it: a bbolt format version it does not know")
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	// bbolt's other refusals are about the content (a page size it cannot
	// read, a file too short for its meta pages, a bad mapping).
	return nil, damaged(path, err, "bbolt cannot open it: %v", err)
}

// eventID is the event_id of a stored event.
func eventID(v []byte) (string, error) {
	var e struct {
		ID string `json:"event_id"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return "", err
	}
	return e.ID, nil
}

// Path is the bbolt file's path.
func (s *Store) Path() string { return s.path }

// Append makes events durable and returns them with Sequence, ID and
// Timestamp assigned, in order. It returns only after the fsync of the
// transaction that holds them; all of them are stored or none is, with
// their Blobs. The returned events (and those the projections see) have
// no Blobs: content is read back with ReadBlobAt.
func (s *Store) Append(ctx context.Context, events ...Event) ([]Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	r := &request{events: append([]Event(nil), events...), parts: make([]encoded, len(events)), done: make(chan struct{})}
	// Everything but the sequence and the time is encoded here, on the
	// caller's goroutine, so the single writer only splices bytes. An event
	// that cannot be encoded fails alone and takes no sequence.
	for i := range r.events {
		e := &r.events[i]
		for _, b := range e.Blobs {
			if len(b.data) > MaxBlobLen {
				return nil, fmt.Errorf("event %q: blob of %d bytes is larger than the store's largest value (%d)", e.Type, len(b.data), MaxBlobLen)
			}
		}
		r.blobs = append(r.blobs, e.Blobs...)
		e.Blobs = nil
		if err := r.parts[i].encode(e); err != nil {
			return nil, err
		}
	}
	if err := s.damageErr(); err != nil {
		return nil, err
	}
	s.sendMu.RLock()
	if s.sendClosed {
		s.sendMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case s.queue <- r:
		s.sendMu.RUnlock()
	case <-ctx.Done():
		s.sendMu.RUnlock()
		return nil, ctx.Err()
	}
	// Once queued the event may commit; wait for the outcome so the caller
	// never reports failure for an event that is in fact stored.
	<-r.done
	if r.err != nil {
		return nil, r.err
	}
	return r.events, nil
}

// writer is the single goroutine that commits. It takes one request,
// drains whatever else is queued (up to MaxBatch events) and commits them
// in one transaction, then hands the batch to the applier and starts on
// the next one: projections and answers of batch N overlap the commit
// (and fsync) of batch N+1. last is the newest committed sequence and
// blobBytes the distinct blob bytes committed; the writer alone owns them.
func (s *Store) writer(last uint64, blobBytes int64) {
	defer close(s.applyCh)
	batch := make([]*request, 0, 64)
	for {
		r, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		n := len(r.events)
	drain:
		for n < MaxBatch {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				n += len(r.events)
			default:
				break drain
			}
		}
		a := s.commitBatch(batch, n, last, blobBytes)
		if a.err == nil {
			last, blobBytes = a.last, a.blobBytes
		}
		s.applyCh <- a
		batch = make([]*request, 0, 64) // the applier owns the old one now
	}
}

// commitBatch assigns sequences after last and the batch's time, splices
// each event's encoded parts and commits them all in one transaction,
// with their blobs. A request whose new blobs would pass MaxBlobBytes
// (blobBytes already used) is left out of the transaction with its err
// set; the others commit.
func (s *Store) commitBatch(batch []*request, n int, last uint64, blobBytes int64) applied {
	start := time.Now()
	seq := last
	used := blobBytes
	ts := s.now().UTC()
	tsJSON, err := ts.MarshalJSON()
	if err != nil {
		// A time outside JSON's range (a broken clock): nothing is stored.
		return applied{batch: batch, err: fmt.Errorf("event time %v: %w", ts, err)}
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		// Sequences only grow, so pages are filled completely: fewer pages
		// to write and fsync per commit.
		b.FillPercent = 1.0
		var ixs [3]*bolt.Bucket
		for i, ix := range indexes {
			ixs[i] = tx.Bucket(ix.bucket)
		}
		var blobs *blobWriter
		for _, r := range batch {
			r.err = nil
			if len(r.blobs) > 0 {
				if blobs == nil {
					blobs = newBlobWriter(tx)
				}
				added, err := blobs.put(r, used, s.maxBlob)
				if errors.Is(err, ErrBlobSpace) {
					r.err = err // this request only: nothing of it is written
					continue
				}
				if err != nil {
					return err
				}
				used += added
			}
			for j := range r.events {
				seq++
				e := &r.events[j]
				e.Sequence = seq
				e.Timestamp = ts
				// bbolt keeps value slices until commit: each is its own.
				if err := b.Put(seqKey(seq), r.parts[j].value(seq, tsJSON)); err != nil {
					return err
				}
				if err := indexInto(ixs[:], e); err != nil {
					return err
				}
			}
		}
		if blobs != nil {
			return blobs.finish(used, blobBytes)
		}
		return nil
	})
	if err != nil {
		size := 0
		for _, r := range batch {
			for j := range r.parts {
				size += len(r.parts[j].head) + len(r.parts[j].tail) + 128
			}
			for _, bl := range r.blobs {
				size += len(bl.data) + (len(bl.data)/blobChunk+1)*32
			}
		}
		return applied{batch: batch, err: err, size: size}
	}
	if s.commit != nil {
		s.commit(n, time.Since(start))
	}
	return applied{batch: batch, last: seq, blobBytes: used}
}

// applier feeds committed batches to the projections in commit order and
// answers their appenders, or answers them with the commit's error.
func (s *Store) applier() {
	defer close(s.done)
	for a := range s.applyCh {
		if a.err != nil {
			s.mu.Lock()
			s.writeErr = a.err
			s.failures++
			s.failedBytes = a.size
			s.mu.Unlock()
			s.log.Error("event store commit failed; probing until a commit can succeed", "error", a.err)
			select {
			case s.probeWake <- struct{}{}:
			default:
			}
			for _, r := range a.batch {
				r.err = fmt.Errorf("event store commit: %w", a.err)
				close(r.done)
			}
			continue
		}
		s.mu.Lock()
		s.last = a.last
		s.blobBytes = a.blobBytes
		s.writeErr = nil
		for _, r := range a.batch {
			// A request refused alone (blob space) took no sequence, and
			// one of PutBlobs carries no event: neither moves the log's ends.
			if r.err != nil || len(r.events) == 0 {
				continue
			}
			if s.origin == "" && r.events[0].Sequence == 1 {
				s.origin = r.events[0].ID
			}
			s.lastID = r.events[len(r.events)-1].ID
			for _, e := range r.events {
				s.applyLocked(e)
			}
		}
		close(s.notify)
		s.notify = make(chan struct{})
		s.mu.Unlock()
		for _, r := range a.batch {
			close(r.done)
		}
	}
}

func (s *Store) applyLocked(e Event) {
	for _, p := range s.projections {
		if err := p.Apply(e); err != nil {
			s.log.Error("projection failed to apply event", "error", err, "sequence", e.Sequence, "event_type", e.Type)
		}
	}
}

// Attach replays every event after sequence from through ps, in order,
// then registers ps so they receive every later event once it is durable.
// It is the one place replay happens: start-up passes 0, or the sequence
// of a loaded snapshot to replay only the tail. No event is missed or
// applied twice between the replay and the live feed. Live events are
// applied on the store's applier goroutine before their appenders are
// answered, so Apply must be quick and must not call back into the Store.
func (s *Store) Attach(from uint64, ps ...Projection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.last <= from {
		s.projections = append(s.projections, ps...)
		return nil
	}
	// Read only up to the last applied sequence: a batch committed but not
	// yet applied will reach ps through the live feed, not twice.
	err := s.readFrom(from, s.last, func(e Event) error {
		for _, p := range ps {
			if err := p.Apply(e); err != nil {
				return fmt.Errorf("replay event %d (%s): %w", e.Sequence, e.Type, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.projections = append(s.projections, ps...)
	return nil
}

// LastSequence is the sequence of the newest durable event (0 when empty).
func (s *Store) LastSequence() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// Changed returns a channel closed at the next commit. With LastSequence
// it lets a reader (the SSE stream) wait for new events without polling.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.notify
}

// Wait blocks until the log holds an event after sequence after, or ctx
// ends, or the store closes.
func (s *Store) Wait(ctx context.Context, after uint64) error {
	for {
		s.mu.RLock()
		last, ch, closed := s.last, s.notify, s.closed
		s.mu.RUnlock()
		if last > after {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Size is the size of the bbolt file in bytes.
func (s *Store) Size() int64 {
	var n int64
	if err := s.view(func(tx *bolt.Tx) error { n = tx.Size(); return nil }); err != nil {
		return 0
	}
	return n
}

// ReadFrom calls fn for every event after sequence from, in order, until
// fn returns an error or the log ends. ErrStop ends the read early
// without an error.
func (s *Store) ReadFrom(from uint64, fn func(Event) error) error {
	return s.readFrom(from, 0, fn)
}

// ErrStop may be returned by a ReadFrom callback to stop reading.
var ErrStop = errors.New("stop reading")

func (s *Store) readFrom(from, upTo uint64, fn func(Event) error) error {
	if from == math.MaxUint64 {
		return nil // nothing can follow the largest sequence
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		prev := from
		for k, v := c.Seek(seqKey(from + 1)); k != nil; k, v = c.Next() {
			var e Event
			if err := decodeEvent(k, v, &e); err != nil {
				return damaged(s.path, err, "%v", err)
			}
			if e.Sequence <= prev {
				// A damaged tree can lead a cursor in circles.
				return damaged(s.path, nil, "event %d comes after event %d: the tree is out of order", e.Sequence, prev)
			}
			prev = e.Sequence
			if upTo > 0 && e.Sequence > upTo {
				return ErrStop
			}
			if err := call(fn, e); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Filter selects events for Query. Zero fields do not filter.
type Filter struct {
	Type        string
	AgentID     string
	AggregateID string
	Since       uint64    // only events with a greater sequence
	Start, End  time.Time // inclusive time bounds
	Limit       int       // at most this many; 0 means no limit
	// Keep, when set, further selects among the events that match (the
	// HTTP layer's visibility rule). It must not call back into the Store.
	Keep func(*Event) bool
	// Admit, when set, is asked before each selected event joins the
	// result, with the bytes of its data and metadata; false ends the
	// result before it. Callers bound the memory a result holds with it.
	Admit func(bytes int) bool
}

// take reports whether e joins a result of f, and stop whether the read
// ends before it (Admit refused it).
func (f Filter) take(e *Event) (keep, stop bool) {
	if !f.Match(*e) || (f.Keep != nil && !f.Keep(e)) {
		return false, false
	}
	if f.Admit != nil && !f.Admit(len(e.Data)+len(e.Metadata)) {
		return false, true
	}
	return true, false
}

// Match reports whether e passes every filter but Since and Limit.
func (f Filter) Match(e Event) bool {
	if f.Type != "" && e.Type != f.Type {
		return false
	}
	if f.AgentID != "" && e.AgentID != f.AgentID {
		return false
	}
	if f.AggregateID != "" && e.AggregateID != f.AggregateID {
		return false
	}
	if !f.Start.IsZero() && e.Timestamp.Before(f.Start) {
		return false
	}
	if !f.End.IsZero() && e.Timestamp.After(f.End) {
		return false
	}
	return true
}

// Query returns the events matching f in sequence order. An equality
// filter (aggregate, agent or type, in that order of preference) is served
// from its index; time bounds alone scan from Since.
func (s *Store) Query(f Filter) ([]Event, error) {
	for _, ix := range []struct {
		bucket []byte
		value  string
	}{{bucketByAggregate, f.AggregateID}, {bucketByAgent, f.AgentID}, {bucketByType, f.Type}} {
		if ix.value != "" {
			return s.queryIndex(ix.bucket, ix.value, f)
		}
	}
	out := []Event{}
	err := s.ReadFrom(f.Since, func(e Event) error {
		keep, stop := f.take(&e)
		if stop {
			return ErrStop
		}
		if !keep {
			return nil
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) >= f.Limit {
			return ErrStop
		}
		return nil
	})
	return out, err
}

func (s *Store) queryIndex(bucket []byte, value string, f Filter) ([]Event, error) {
	out := []Event{}
	if f.Since == math.MaxUint64 {
		return out, nil
	}
	prefix := append([]byte(value), 0)
	err := s.view(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		c := tx.Bucket(bucket).Cursor()
		var prev []byte
		for k, _ := c.Seek(append(append([]byte(nil), prefix...), seqKey(f.Since+1)...)); k != nil; k, _ = c.Next() {
			if len(k) < len(prefix) || string(k[:len(prefix)]) != string(prefix) {
				break
			}
			if prev != nil && bytes.Compare(k, prev) <= 0 {
				return damaged(s.path, nil, "index %s is out of order at %q", bucket, k)
			}
			prev = k
			if len(k) != len(prefix)+8 {
				continue // a longer value that shares the prefix
			}
			seq := binary.BigEndian.Uint64(k[len(prefix):])
			v := events.Get(k[len(prefix):])
			if v == nil {
				return damaged(s.path, nil, "index %s lists missing event %d", bucket, seq)
			}
			var e Event
			if err := decodeEvent(k[len(prefix):], v, &e); err != nil {
				return damaged(s.path, err, "%v", err)
			}
			// Keep and Admit are the caller's: a panic in them is the
			// caller's too, not damage (call).
			var keep, stop bool
			if err := call(func(e *Event) error { keep, stop = f.take(e); return nil }, &e); err != nil {
				return err
			}
			if stop {
				return nil
			}
			if !keep {
				continue
			}
			out = append(out, e)
			if f.Limit > 0 && len(out) >= f.Limit {
				return nil
			}
		}
		return nil
	})
	return out, err
}

// index adds e to the secondary indexes.
func index(tx *bolt.Tx, e *Event) error {
	var bs [3]*bolt.Bucket
	for i, ix := range indexes {
		bs[i] = tx.Bucket(ix.bucket)
	}
	return indexInto(bs[:], e)
}

// indexInto is index with the index buckets already looked up (in the
// order of indexes), for the writer's loop over a batch.
func indexInto(bs []*bolt.Bucket, e *Event) error {
	for i, ix := range indexes {
		v := ix.field(e)
		if v == "" {
			continue
		}
		// bbolt keeps keys until commit: each is its own slice.
		k := make([]byte, 0, len(v)+9)
		k = append(append(append(k, v...), 0), seqKey(e.Sequence)...)
		if err := bs[i].Put(k, []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// ensureIndexes creates missing index buckets and fills them from the
// log, so a store written before the indexes existed is indexed on open.
func ensureIndexes(tx *bolt.Tx, path string) error {
	missing := false
	for _, ix := range indexes {
		if tx.Bucket(ix.bucket) == nil {
			missing = true
			if _, err := tx.CreateBucket(ix.bucket); err != nil {
				return err
			}
		}
	}
	if !missing {
		return nil
	}
	for _, ix := range indexes {
		if err := tx.DeleteBucket(ix.bucket); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(ix.bucket); err != nil {
			return err
		}
	}
	var prev uint64
	return tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		var e Event
		if err := decodeEvent(k, v, &e); err != nil {
			return &damagedError{path: path, detail: err.Error(), err: err}
		}
		if e.Sequence <= prev {
			return damaged(path, nil, "event %d comes after event %d: the tree is out of order", e.Sequence, prev)
		}
		prev = e.Sequence
		return index(tx, &e)
	})
}

// Backup writes a consistent copy of the live store to w (bbolt's
// Tx.WriteTo), without stopping appends. Opening the copy as an event
// store restores it.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Close stops accepting appends, commits what is queued, records the
// high-water mark and closes the file, releasing the lock.
func (s *Store) Close() error { return s.CloseContext(context.Background()) }

// CloseContext is Close bounded by ctx: when ctx ends first (a commit
// stuck in I/O) it returns an error and the close goes on in the
// background; the lock is released when it ends or the process exits.
func (s *Store) CloseContext(ctx context.Context) error {
	s.closeOnce.Do(func() {
		go func() {
			s.closeErr = s.close()
			close(s.closed2)
		}()
	})
	select {
	case <-s.closed2:
		return s.closeErr
	case <-ctx.Done():
		return fmt.Errorf("event store %s did not close in time (a commit is still in progress): %w", s.path, ctx.Err())
	}
}

func (s *Store) close() error {
	s.sendMu.Lock()
	s.sendClosed = true
	s.sendMu.Unlock()
	close(s.queue)
	<-s.done
	close(s.stop)
	s.background.Wait()
	s.mu.Lock()
	s.closed = true
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	s.writeHighWater(filepath.Dir(s.path))
	return s.db.Close()
}

// decodeEvent decodes the stored event v under key k and checks that
// the two agree: an event stored under another sequence than its own is
// damage too.
func decodeEvent(k, v []byte, e *Event) error {
	if len(k) != 8 {
		return fmt.Errorf("event key %x is not a sequence", k)
	}
	seq := binary.BigEndian.Uint64(k)
	if err := json.Unmarshal(v, e); err != nil {
		return fmt.Errorf("event %d does not decode: %w", seq, err)
	}
	if e.Sequence != seq {
		return fmt.Errorf("event stored under sequence %d says it is %d", seq, e.Sequence)
	}
	return nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
