package shadow

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Errors Apply and CheckWrite report for events that cannot change the
// projection. The HTTP layer checks first (CheckWrite, View.Stat) so that a
// client gets 404 or 409 and no such event is ever appended.
var (
	ErrNotFound = errors.New("shadow file not found")
	ErrConflict = errors.New("shadow path conflicts with an existing file or directory")
	ErrFuture   = errors.New("sequence is after the last applied event")
)

// DefaultRecentEvents is how many events the recent ring keeps when
// Options.RecentEvents is zero.
const DefaultRecentEvents = 1000

// DefaultRecentBytes bounds the JSON the recent ring holds when
// Options.RecentBytes is zero: 8 MiB. An event may carry up to 1 MiB of
// data, so a count alone would let the ring hold about 1 GiB, the
// deploy's whole memory.
const DefaultRecentBytes = 8 << 20

// DefaultMaxFileBytes is the largest shadow file when
// Options.MaxFileBytes is zero: 1 MiB, the contract's event size.
const DefaultMaxFileBytes = 1 << 20

// Blobs is where the contents live: the event store (*store.Store). The
// projection keeps only each version's hash and size.
type Blobs interface {
	// ReadBlobAt reads the blob with that SHA-256 as io.ReaderAt does.
	ReadBlobAt(sum [32]byte, p []byte, off int64) (int, error)
	// BlobSize is the stored blob's length (an error if it is missing).
	BlobSize(sum [32]byte) (int64, error)
}

// Options configure a Projection.
type Options struct {
	// RecentEvents bounds the ring shown as events/ in the FUSE view;
	// RecentBytes bounds the JSON it holds (the oldest entries leave
	// first; an event larger than the whole bound is kept as a stub that
	// says where to read it).
	RecentEvents int
	RecentBytes  int64
	// Blobs holds the contents. Without it, files can be listed and
	// stat'ed but reading one fails with ErrMissingContent.
	Blobs Blobs
	// MaxFileBytes is the largest content a new version may have (PUT
	// answers 413 beyond it); 0 means DefaultMaxFileBytes. Versions
	// already in the log are kept whatever their size.
	MaxFileBytes int64
	// MaxPathDepth, MaxIndexBytes and AgentShare (a percent) bound new
	// changes (CheckRoom, budget.go); MaxContentBytes is the distinct
	// content the store keeps, of which an agent may add its share (0:
	// no bound of the share). Zero fields take the defaults.
	MaxPathDepth    int
	MaxIndexBytes   int64
	MaxContentBytes int64
	AgentShare      int
}

// Projection is the shadow-file state derived from the log. It implements
// store.Projection. The zero value is not usable; call New.
type Projection struct {
	mu       sync.RWMutex
	last     uint64 // sequence of the last applied event
	lastTime int64  // its timestamp, Unix nanoseconds

	// Contents by blob index, shared by identical versions: the hash
	// (the key in the store) and the size; the bytes stay in the store.
	blobSize []int64
	blobHash [][32]byte
	blobIdx  map[[32]byte]uint32
	// inline maps a blob index to the sequence of an event of an older
	// version that carries the content inline, until MigrateInline has
	// made sure the store holds it as a blob.
	inline map[uint32]uint64

	store   Blobs
	maxFile int64

	// The bounds of budget.go, the index estimate and each agent's usage.
	maxDepth   int
	maxIndex   int64
	maxContent int64
	share      int
	index      int64
	agents     map[string]*usage

	files   map[string]*fileHist
	dirs    map[string]*dirHist // "" is the project root
	changes []change            // every applied shadow change, by sequence

	ring      []RecentEvent // oldest first
	ringCap   int           // at most this many entries
	ringBytes int64         // JSON bytes in ring
	ringMax   int64         // at most this many

	wmu      sync.Mutex
	watchers map[int]func(Change)
	nextW    int
}

// Change is one change to the shadow files, as Watch reports it.
type Change struct {
	Seq  uint64
	Path string // the file written or deleted
	// Tree is set when the file appeared or disappeared: the directories
	// above it changed too (their times, and those that appeared or
	// vanished). Otherwise only the file's content and time changed.
	Tree bool
}

// Watch calls fn after every applied change to a file, in sequence order,
// on the goroutine that applies events and before Apply returns (so
// before the change's writer is answered), with the projection unlocked:
// fn may read the projection. It must not apply events, and should be
// quick: it delays every later event. stop ends the calls.
func (p *Projection) Watch(fn func(Change)) (stop func()) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.watchers == nil {
		p.watchers = map[int]func(Change){}
	}
	id := p.nextW
	p.nextW++
	p.watchers[id] = fn
	return func() {
		p.wmu.Lock()
		defer p.wmu.Unlock()
		delete(p.watchers, id)
	}
}

func (p *Projection) notify(c Change) {
	p.wmu.Lock()
	fns := make([]func(Change), 0, len(p.watchers))
	for _, fn := range p.watchers {
		fns = append(fns, fn)
	}
	p.wmu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}

type version struct {
	seq     uint64
	time    int64
	blob    uint32
	deleted bool
}

type fileHist struct{ versions []version }

type count struct {
	seq  uint64
	time int64
	n    uint32 // live files below this directory after the event
}

type dirHist struct {
	names  []string // every child name ever seen, sorted
	counts []count
}

type change struct {
	seq  uint64
	time int64
}

// RecentEvent is one entry of the recent-events ring: the event rendered as
// indented JSON (shadow contents elided), ready to be served as a file.
type RecentEvent struct {
	Seq  uint64
	Time time.Time
	Type string // the event's type, for the view's visibility rule
	JSON []byte
}

// New returns an empty projection.
func New(opts Options) *Projection {
	if opts.RecentEvents <= 0 {
		opts.RecentEvents = DefaultRecentEvents
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.RecentBytes <= 0 {
		opts.RecentBytes = DefaultRecentBytes
	}
	if opts.MaxPathDepth <= 0 {
		opts.MaxPathDepth = DefaultMaxPathDepth
	}
	if opts.MaxIndexBytes <= 0 {
		opts.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if opts.AgentShare <= 0 || opts.AgentShare > 100 {
		opts.AgentShare = DefaultAgentShare
	}
	return &Projection{
		maxDepth:   opts.MaxPathDepth,
		maxIndex:   opts.MaxIndexBytes,
		maxContent: opts.MaxContentBytes,
		share:      opts.AgentShare,
		index:      costDir, // the root
		agents:     map[string]*usage{},
		blobIdx:    map[[32]byte]uint32{},
		inline:     map[uint32]uint64{},
		files:      map[string]*fileHist{},
		dirs:       map[string]*dirHist{"": {}},
		ringCap:    opts.RecentEvents,
		ringMax:    opts.RecentBytes,
		store:      opts.Blobs,
		maxFile:    opts.MaxFileBytes,
	}
}

// MaxFileBytes is the largest content a new version may have.
func (p *Projection) MaxFileBytes() int64 { return p.maxFile }

var _ store.Projection = (*Projection)(nil)

// Apply folds one event into the projection. Events at or below the last
// applied sequence are ignored, so replaying a log over a restored snapshot
// is harmless. An event that cannot change the state (bad payload, deleting
// a missing file, a file/directory conflict) still advances the sequence
// and enters the recent ring, but changes no file; Apply returns why so the
// caller can log it. The outcome depends only on the events, never on time.
func (p *Projection) Apply(ev store.Event) error {
	p.mu.Lock()
	c, err := p.applyLocked(ev)
	p.mu.Unlock()
	if c.Path != "" {
		p.notify(c)
	}
	return err
}

// applyLocked is Apply under the write lock; it returns the change made
// (none: an empty Path).
func (p *Projection) applyLocked(ev store.Event) (Change, error) {
	if ev.Sequence <= p.last {
		return Change{}, nil
	}
	p.last = ev.Sequence
	p.lastTime = ev.Timestamp.UnixNano()
	switch ev.Type {
	case TypeFileModified:
		fm, sum, inline, err := decodeModified(ev.Data)
		if err == nil {
			ev.Data = summary(fm)
		}
		p.pushRecent(ev)
		if err != nil {
			return Change{}, fmt.Errorf("event %d: %w", ev.Sequence, err)
		}
		if err := p.checkWriteLocked(fm.Path); err != nil {
			return Change{}, fmt.Errorf("event %d: %w", ev.Sequence, err)
		}
		_, known := p.blobIdx[sum]
		newBlob := !known
		cost := p.costLocked(fm.Path, false, newBlob)
		bi, err := p.blob(sum, fm.Size)
		if err != nil {
			return Change{}, fmt.Errorf("event %d: file_modified %q: %w", ev.Sequence, fm.Path, err)
		}
		content := int64(0)
		if newBlob {
			content = fm.Size
		}
		p.charge(ev.AgentID, cost, content)
		if inline != nil && fm.Size > 0 {
			if _, ok := p.inline[bi]; !ok {
				p.inline[bi] = ev.Sequence
			}
		}
		tree := p.put(ev.Sequence, p.lastTime, fm.Path, bi, false)
		return Change{Seq: ev.Sequence, Path: fm.Path, Tree: tree}, nil
	case TypeFileDeleted:
		p.pushRecent(ev)
		fd, err := decodeDeleted(ev.Data)
		if err != nil {
			return Change{}, fmt.Errorf("event %d: %w", ev.Sequence, err)
		}
		if !p.fileAlive(fd.Path, math.MaxUint64) {
			return Change{}, fmt.Errorf("event %d: %w: %q", ev.Sequence, ErrNotFound, fd.Path)
		}
		p.charge(ev.AgentID, p.costLocked(fd.Path, true, false), 0)
		p.put(ev.Sequence, p.lastTime, fd.Path, 0, true)
		return Change{Seq: ev.Sequence, Path: fd.Path, Tree: true}, nil
	default:
		p.pushRecent(ev)
	}
	return Change{}, nil
}

// CheckWrite reports whether a file_modified for the cleaned path p would
// be applied now: it fails with ErrConflict when p is a live directory or
// one of its parents is a live file.
func (p *Projection) CheckWrite(cleaned string) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.checkWriteLocked(cleaned)
}

func (p *Projection) checkWriteLocked(fp string) error {
	if p.dirAlive(fp, math.MaxUint64) {
		return fmt.Errorf("%w: %q is a directory", ErrConflict, fp)
	}
	for d := parent(fp); d != ""; d = parent(d) {
		if p.fileAlive(d, math.MaxUint64) {
			return fmt.Errorf("%w: %q is a file", ErrConflict, d)
		}
	}
	return nil
}

// blob returns the index of the content with hash sum and length size,
// adding it if new.
func (p *Projection) blob(sum [32]byte, size int64) (uint32, error) {
	if i, ok := p.blobIdx[sum]; ok {
		if p.blobSize[i] != size {
			return 0, fmt.Errorf("%w: %d bytes, earlier %d (sha256 %x)", errBlobSize, size, p.blobSize[i], sum)
		}
		return i, nil
	}
	if len(p.blobSize) >= math.MaxUint32 {
		return 0, errors.New("too many distinct contents for one projection")
	}
	i := uint32(len(p.blobSize))
	p.blobSize = append(p.blobSize, size)
	p.blobHash = append(p.blobHash, sum)
	p.blobIdx[sum] = i
	return i, nil
}

// put records a new version of fp and, when the file appears or
// disappears, updates the live counts of all its ancestors and reports
// that the tree changed.
func (p *Projection) put(seq uint64, t int64, fp string, blob uint32, deleted bool) (tree bool) {
	fh := p.files[fp]
	if fh == nil {
		fh = &fileHist{}
		p.files[fp] = fh
		p.link(fp)
	}
	wasAlive := len(fh.versions) > 0 && !fh.versions[len(fh.versions)-1].deleted
	fh.versions = append(fh.versions, version{seq: seq, time: t, blob: blob, deleted: deleted})
	p.changes = append(p.changes, change{seq: seq, time: t})
	var delta int
	switch {
	case deleted && wasAlive:
		delta = -1
	case !deleted && !wasAlive:
		delta = +1
	}
	if delta == 0 {
		return false // contents changed, the tree did not
	}
	for d := parent(fp); ; d = parent(d) {
		dh := p.dirs[d]
		n := uint32(0)
		if len(dh.counts) > 0 {
			n = dh.counts[len(dh.counts)-1].n
		}
		dh.counts = append(dh.counts, count{seq: seq, time: t, n: uint32(int(n) + delta)})
		if d == "" {
			break
		}
	}
	return true
}

// link makes sure every ancestor of fp exists and lists its child name.
func (p *Projection) link(fp string) {
	for child := fp; child != ""; child = parent(child) {
		d := parent(child)
		dh := p.dirs[d]
		if dh == nil {
			dh = &dirHist{}
			p.dirs[d] = dh
		}
		name := path.Base(child)
		i, found := slices.BinarySearch(dh.names, name)
		if !found {
			dh.names = slices.Insert(dh.names, i, name)
		}
	}
}

func (p *Projection) pushRecent(ev store.Event) {
	p.pushRecentEvent(RecentEvent{Seq: ev.Sequence, Time: ev.Timestamp.UTC(), Type: ev.Type, JSON: eventJSON(ev)})
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// versionAt returns the version of fp in force at seq.
func (p *Projection) versionAt(fp string, seq uint64) (version, bool) {
	fh := p.files[fp]
	if fh == nil {
		return version{}, false
	}
	vs := fh.versions
	if seq == math.MaxUint64 || vs[len(vs)-1].seq <= seq {
		return vs[len(vs)-1], true
	}
	i := sort.Search(len(vs), func(i int) bool { return vs[i].seq > seq })
	if i == 0 {
		return version{}, false
	}
	return vs[i-1], true
}

func (p *Projection) fileAlive(fp string, seq uint64) bool {
	v, ok := p.versionAt(fp, seq)
	return ok && !v.deleted
}

// dirAt returns the live count entry of directory d at seq.
func (p *Projection) dirAt(d string, seq uint64) (count, bool) {
	dh := p.dirs[d]
	if dh == nil || len(dh.counts) == 0 {
		return count{}, false
	}
	cs := dh.counts
	i := len(cs)
	if seq != math.MaxUint64 && cs[len(cs)-1].seq > seq {
		i = sort.Search(len(cs), func(i int) bool { return cs[i].seq > seq })
	}
	if i == 0 {
		return count{}, false
	}
	return cs[i-1], true
}

func (p *Projection) dirAlive(d string, seq uint64) bool {
	c, ok := p.dirAt(d, seq)
	return ok && c.n > 0
}

// LastSeq is the sequence of the last applied event. It grows with every
// Apply, so readers (the FUSE view, snapshot scheduling) use it as a
// version counter.
func (p *Projection) LastSeq() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.last
}

// Changes lists the sequences of all applied shadow changes, in order: the
// entries of the FUSE view's history/.
func (p *Projection) Changes() []uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]uint64, len(p.changes))
	for i, c := range p.changes {
		out[i] = c.seq
	}
	return out
}

// Recent returns the recent-events ring, oldest first.
func (p *Projection) Recent() []RecentEvent {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.ring)
}

// RecentEvent returns one event of the ring by sequence.
func (p *Projection) RecentEvent(seq uint64) (RecentEvent, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := len(p.ring)
	if n == 0 {
		return RecentEvent{}, false
	}
	// The ring holds increasing sequences.
	i := sort.Search(n, func(i int) bool { return p.ring[i].Seq >= seq })
	if i < n && p.ring[i].Seq == seq {
		return p.ring[i], true
	}
	return RecentEvent{}, false
}
