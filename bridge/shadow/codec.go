package shadow

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// SnapshotSection is the name under which the server stores this
// projection in a snapshot file.
const SnapshotSection = "shadow"

// codecVersion changes whenever the binary layout below changes; an older
// or newer layout is refused, and the caller falls back to a full replay.
// Version 1 carried every distinct content; version 2 only its hash and
// size (the content is a blob of the event store); version 3 adds what
// each agent's changes added (budget.go).
const codecVersion = 3

var errShort = errors.New("shadow snapshot: truncated")

// MarshalSnapshot encodes the whole projection (all versions, the hash and
// size of every content, and the recent ring) in a compact binary form:
// its size depends on the number of paths, versions and events, never on
// the size of the files. The output is deterministic:
// equal projections give equal bytes. It is consistent with LastSeq at the
// time of the call.
func (p *Projection) MarshalSnapshot() ([]byte, error) {
	return p.capture().encode(), nil
}

// CaptureSnapshot implements snapshot.Capturer: it freezes the state as of
// the last applied event in time proportional to the number of paths and
// directories (not versions or contents) and returns its encoder, which
// may run concurrently with Apply. This works because the projection's
// history only grows: versions, counts, changes and blobs are appended,
// never changed in place, so a slice capped at its length at capture time
// keeps exactly the state at that sequence. What is changed in place
// (the maps, the sorted child names, the recent ring) is copied.
func (p *Projection) CaptureSnapshot() func() ([]byte, error) {
	f := p.capture()
	return func() ([]byte, error) { return f.encode(), nil }
}

// frozen is the projection as of one sequence, detached from later
// Applies (see CaptureSnapshot).
type frozen struct {
	last     uint64
	lastTime int64
	blobSize []int64
	blobHash [][32]byte
	files    []frozenFile
	dirs     []frozenDir
	changes  []change
	ring     []RecentEvent // oldest first
	agents   []string      // sorted
	usage    []usage       // of each agent
}

type frozenFile struct {
	path     string
	versions []version
}

type frozenDir struct {
	path   string
	names  []string
	counts []count
}

func (p *Projection) capture() *frozen {
	p.mu.RLock()
	defer p.mu.RUnlock()
	f := &frozen{
		last: p.last, lastTime: p.lastTime,
		blobSize: p.blobSize[:len(p.blobSize):len(p.blobSize)],
		blobHash: p.blobHash[:len(p.blobHash):len(p.blobHash)],
		changes:  p.changes[:len(p.changes):len(p.changes)],
		files:    make([]frozenFile, 0, len(p.files)),
		dirs:     make([]frozenDir, 0, len(p.dirs)),
		ring:     make([]RecentEvent, 0, len(p.ring)),
	}
	for fp, fh := range p.files {
		f.files = append(f.files, frozenFile{fp, fh.versions[:len(fh.versions):len(fh.versions)]})
	}
	for d, dh := range p.dirs {
		// names is kept sorted by inserting in place: copy it.
		f.dirs = append(f.dirs, frozenDir{d, slices.Clone(dh.names), dh.counts[:len(dh.counts):len(dh.counts)]})
	}
	f.ring = append(f.ring, p.ring...)
	f.agents = sortedAgents(p.agents)
	for _, a := range f.agents {
		f.usage = append(f.usage, *p.agents[a])
	}
	return f
}

// encode writes the snapshot layout of f.
func (f *frozen) encode() []byte {
	size := 64 + len(f.blobSize)*40 + len(f.changes)*24 + len(f.files)*32
	buf := make([]byte, 0, size)
	u := binary.AppendUvarint
	s := func(buf []byte, str string) []byte { return append(u(buf, uint64(len(str))), str...) }

	buf = u(buf, codecVersion)
	buf = u(buf, f.last)
	buf = binary.AppendVarint(buf, f.lastTime)

	buf = u(buf, uint64(len(f.blobSize)))
	for i, n := range f.blobSize {
		buf = append(buf, f.blobHash[i][:]...)
		buf = u(buf, uint64(n))
	}

	slices.SortFunc(f.files, func(a, b frozenFile) int { return strings.Compare(a.path, b.path) })
	buf = u(buf, uint64(len(f.files)))
	for _, ff := range f.files {
		buf = s(buf, ff.path)
		buf = u(buf, uint64(len(ff.versions)))
		for _, v := range ff.versions {
			buf = u(buf, v.seq)
			buf = binary.AppendVarint(buf, v.time)
			buf = u(buf, uint64(v.blob))
			if v.deleted {
				buf = append(buf, 1)
			} else {
				buf = append(buf, 0)
			}
		}
	}

	slices.SortFunc(f.dirs, func(a, b frozenDir) int { return strings.Compare(a.path, b.path) })
	buf = u(buf, uint64(len(f.dirs)))
	for _, dh := range f.dirs {
		buf = s(buf, dh.path)
		buf = u(buf, uint64(len(dh.names)))
		for _, n := range dh.names {
			buf = s(buf, n)
		}
		buf = u(buf, uint64(len(dh.counts)))
		for _, c := range dh.counts {
			buf = u(buf, c.seq)
			buf = binary.AppendVarint(buf, c.time)
			buf = u(buf, uint64(c.n))
		}
	}

	buf = u(buf, uint64(len(f.changes)))
	var prev uint64
	for _, c := range f.changes {
		buf = u(buf, c.seq-prev)
		prev = c.seq
		buf = binary.AppendVarint(buf, c.time)
	}

	buf = u(buf, uint64(len(f.ring)))
	for _, re := range f.ring {
		buf = u(buf, re.Seq)
		buf = binary.AppendVarint(buf, re.Time.UnixNano())
		buf = u(buf, uint64(len(re.JSON)))
		buf = append(buf, re.JSON...)
	}

	buf = u(buf, uint64(len(f.agents)))
	for i, a := range f.agents {
		buf = s(buf, a)
		buf = u(buf, uint64(f.usage[i].index))
		buf = u(buf, uint64(f.usage[i].content))
	}
	return buf
}

// RestoreSnapshot replaces the projection's state with one encoded by
// MarshalSnapshot. On error the projection is left unchanged. The recent
// ring's event texts are not copied: the projection keeps referring to
// data, which the caller must not modify afterwards. The recent ring keeps
// the projection's own capacity. A snapshot of the layout before blobs
// (version 1, with contents) is refused: the caller replays the log,
// whose old events MigrateInline then moves into blobs.
func (p *Projection) RestoreSnapshot(data []byte) error {
	d := decoder{buf: data}
	np := New(Options{RecentEvents: p.ringCap, RecentBytes: p.ringMax, Blobs: p.store, MaxFileBytes: p.maxFile,
		MaxPathDepth: p.maxDepth, MaxIndexBytes: p.maxIndex, MaxContentBytes: p.maxContent, AgentShare: p.share})
	if v := d.uvarint(); d.err == nil && v != codecVersion {
		if v == 1 {
			return fmt.Errorf("shadow snapshot: layout version 1 (contents inline, written before contents moved to the event store's blobs); this build reads %d: the log is replayed instead", codecVersion)
		}
		if v == 2 {
			return fmt.Errorf("shadow snapshot: layout version 2 (without what each agent's changes hold); this build reads %d: the log is replayed instead", codecVersion)
		}
		return fmt.Errorf("shadow snapshot: layout version %d, this build reads %d", v, codecVersion)
	}
	np.last = d.uvarint()
	np.lastTime = d.varint()

	nb := d.count(33)
	np.blobSize = make([]int64, 0, nb)
	np.blobHash = make([][32]byte, 0, nb)
	np.blobIdx = make(map[[32]byte]uint32, nb)
	for i := 0; i < nb && d.err == nil; i++ {
		var h [32]byte
		copy(h[:], d.bytes(32))
		n := d.uvarint()
		if d.err == nil && n > store.MaxBlobLen {
			d.fail(fmt.Errorf("shadow snapshot: blob %d has size %d", i, n))
		}
		if _, dup := np.blobIdx[h]; dup && d.err == nil {
			d.fail(fmt.Errorf("shadow snapshot: blob %x listed twice", h))
		}
		np.blobIdx[h] = uint32(i)
		np.blobHash = append(np.blobHash, h)
		np.blobSize = append(np.blobSize, int64(n))
	}

	nf := d.count(2)
	np.files = make(map[string]*fileHist, nf)
	for i := 0; i < nf && d.err == nil; i++ {
		fp := d.str()
		if err := checkCanonical(fp); err != nil && d.err == nil {
			d.fail(fmt.Errorf("shadow snapshot: file %w", err))
		}
		nv := d.count(4)
		if nv == 0 && d.err == nil {
			d.fail(fmt.Errorf("shadow snapshot: %q has no version", fp))
		}
		vs := make([]version, nv)
		for j := range vs {
			vs[j] = version{seq: d.uvarint(), time: d.varint(), blob: uint32(d.uvarint()), deleted: d.byte() == 1}
			if d.err == nil && int(vs[j].blob) >= len(np.blobSize) {
				d.fail(fmt.Errorf("shadow snapshot: %q refers to blob %d of %d", fp, vs[j].blob, len(np.blobSize)))
			}
			if d.err == nil && (vs[j].seq == 0 || vs[j].seq > np.last || j > 0 && vs[j].seq <= vs[j-1].seq) {
				d.fail(fmt.Errorf("shadow snapshot: %q: versions out of order or after the snapshot's sequence", fp))
			}
		}
		if _, dup := np.files[fp]; dup && d.err == nil {
			d.fail(fmt.Errorf("shadow snapshot: %q listed twice", fp))
		}
		np.files[fp] = &fileHist{versions: vs}
	}

	nd := d.count(2)
	np.dirs = make(map[string]*dirHist, nd)
	for i := 0; i < nd && d.err == nil; i++ {
		dp := d.str()
		if dp != "" && d.err == nil {
			if err := checkCanonical(dp); err != nil {
				d.fail(fmt.Errorf("shadow snapshot: directory %w", err))
			}
		}
		dh := &dirHist{names: make([]string, d.count(1))}
		for j := range dh.names {
			dh.names[j] = d.str()
			if d.err == nil && (dh.names[j] == "" || dh.names[j] == "." || dh.names[j] == ".." || strings.ContainsAny(dh.names[j], "/\x00") || len(dh.names[j]) > MaxNameLen || j > 0 && dh.names[j] <= dh.names[j-1]) {
				d.fail(fmt.Errorf("shadow snapshot: directory %q: names not valid or not sorted", dp))
			}
		}
		dh.counts = make([]count, d.count(3))
		for j := range dh.counts {
			dh.counts[j] = count{seq: d.uvarint(), time: d.varint(), n: uint32(d.uvarint())}
			if d.err == nil && (dh.counts[j].seq > np.last || j > 0 && dh.counts[j].seq <= dh.counts[j-1].seq) {
				d.fail(fmt.Errorf("shadow snapshot: directory %q: counts out of order or after the snapshot's sequence", dp))
			}
		}
		if _, dup := np.dirs[dp]; dup && d.err == nil {
			d.fail(fmt.Errorf("shadow snapshot: directory %q listed twice", dp))
		}
		np.dirs[dp] = dh
	}
	if _, ok := np.dirs[""]; !ok && d.err == nil {
		d.fail(errors.New("shadow snapshot: no root directory"))
	}

	np.changes = make([]change, d.count(2))
	var prev uint64
	for j := range np.changes {
		delta := d.uvarint()
		if d.err == nil && (delta == 0 || delta > np.last-prev) {
			d.fail(errors.New("shadow snapshot: changes out of order or after the snapshot's sequence"))
		}
		prev += delta
		np.changes[j] = change{seq: prev, time: d.varint()}
	}

	nr := d.count(3)
	var lastRing uint64
	for j := 0; j < nr && d.err == nil; j++ {
		re := RecentEvent{Seq: d.uvarint(), Time: time.Unix(0, d.varint()).UTC()}
		// A copy: the entry may outlive the snapshot's buffer by far.
		re.JSON = slices.Clone(d.bytes(int(d.uvarint())))
		if d.err == nil && (re.Seq == 0 || re.Seq > np.last || re.Seq <= lastRing) {
			d.fail(errors.New("shadow snapshot: recent events out of order or after the snapshot's sequence"))
		}
		lastRing = re.Seq
		re.Type = recentType(re.JSON)
		np.pushRecentEvent(re)
	}
	na := d.count(3)
	for j := 0; j < na && d.err == nil; j++ {
		a := d.str()
		u := usage{index: int64(d.uvarint()), content: int64(d.uvarint())}
		if _, dup := np.agents[a]; d.err == nil && (dup || a == "" || u.index < 0 || u.content < 0) {
			d.fail(fmt.Errorf("shadow snapshot: agent usage %q listed twice, unnamed or out of range", a))
		}
		np.agents[a] = &u
	}
	if d.err == nil && len(d.buf) != 0 {
		d.fail(fmt.Errorf("shadow snapshot: %d unexpected trailing bytes", len(d.buf)))
	}
	if d.err != nil {
		return d.err
	}
	np.index = np.indexBytesLocked()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.last, p.lastTime = np.last, np.lastTime
	p.blobSize, p.blobHash, p.blobIdx, p.inline = np.blobSize, np.blobHash, np.blobIdx, np.inline
	p.files, p.dirs, p.changes = np.files, np.dirs, np.changes
	p.ring, p.ringBytes = np.ring, np.ringBytes
	p.index, p.agents = np.index, np.agents
	return nil
}

// pushRecentEvent adds re to the ring, then drops the oldest entries
// until it holds at most ringCap entries and ringMax bytes of JSON. An
// entry larger than ringMax on its own is replaced by a stub.
func (p *Projection) pushRecentEvent(re RecentEvent) {
	if int64(len(re.JSON)) > p.ringMax {
		re.JSON = recentStub(re, p.ringMax)
	}
	p.ring = append(p.ring, re)
	p.ringBytes += int64(len(re.JSON))
	drop := 0
	for len(p.ring)-drop > p.ringCap || p.ringBytes > p.ringMax {
		p.ringBytes -= int64(len(p.ring[drop].JSON))
		p.ring[drop] = RecentEvent{} // its JSON is garbage now
		drop++
	}
	// The slice moves forward; append copies the live entries into a new
	// array when the old one is used up, so it stays about twice the ring.
	p.ring = p.ring[drop:]
}

// recentStub stands for an event whose JSON alone passes the ring's byte
// bound: what it is and where to read it, on one line of JSON (at most a
// few hundred bytes; a bound smaller than that keeps it empty).
func recentStub(re RecentEvent, max int64) []byte {
	b, _ := json.Marshal(struct {
		Sequence  uint64    `json:"sequence"`
		Type      string    `json:"event_type"`
		Timestamp time.Time `json:"timestamp"`
		Omitted   string    `json:"omitted"`
	}{re.Seq, re.Type, re.Time, fmt.Sprintf("%d bytes, more than the recent events keep (%d); read it with GET /event/query?since=%d&limit=1", len(re.JSON), max, re.Seq-1)})
	b = append(b, '\n')
	if int64(len(b)) > max {
		return nil
	}
	return b
}

// decoder reads the snapshot layout; the first error sticks and every later
// read returns zero values, so the decoding code stays linear.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) byte() byte {
	b := d.bytes(1)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf) {
		d.fail(errShort)
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) str() string { return string(d.bytes(int(d.uvarint()))) }

// count reads an element count and refuses one that could not fit in the
// remaining bytes (each element needs at least min bytes), so a corrupt
// count cannot make the decoder allocate without bound.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.buf)/min) {
		d.fail(fmt.Errorf("shadow snapshot: count %d exceeds the remaining %d bytes", n, len(d.buf)))
		return 0
	}
	return int(n)
}

// SnapshotName names the projection's section in a snapshot file.
func (p *Projection) SnapshotName() string { return SnapshotSection }

// recentType reads the event type back from a ring entry's JSON (the
// snapshot layout does not repeat it). An entry it cannot read has no
// type, which the view's visibility rule does not show.
func recentType(b []byte) string {
	var v struct {
		Type string `json:"event_type"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.Type
}
