package shadow

import (
	"fmt"
	"math"
	"time"
)

// Kind tells files from directories in a View.
type Kind uint8

// Kinds of entries.
const (
	KindFile Kind = iota + 1
	KindDir
)

// Entry describes one file or directory of a View.
type Entry struct {
	Name    string // base name; "" for the root
	Kind    Kind
	Size    int64     // content length for files, 0 for directories
	ModTime time.Time // event time of the version (files) or of the last entry change (directories)
	Seq     uint64    // event that produced the version or the directory change
	SHA256  [32]byte  // files only
}

// File is one version of a shadow file. Content is shared with the
// projection and other versions and must not be modified.
type File struct {
	Entry
	Path    string
	Content []byte
}

// View is the project as of one sequence (At) or always the latest state
// (Current). It is a small value; each call reads the projection under its
// read lock, so a Current view sees new shadows at once.
type View struct {
	p  *Projection
	at uint64 // math.MaxUint64 for the live view
}

// Current returns the live view: every call sees the latest applied state.
func (p *Projection) Current() View { return View{p: p, at: math.MaxUint64} }

// At returns the project exactly as of event seq (every event up to and
// including seq applied). Sequence 0 is the empty project. A sequence after
// the last applied event is ErrFuture: the past is fixed, the future is not.
func (p *Projection) At(seq uint64) (View, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if seq > p.last {
		return View{}, fmt.Errorf("%w: %d > %d", ErrFuture, seq, p.last)
	}
	return View{p: p, at: seq}, nil
}

// Seq is the sequence this view shows; for the live view the last applied.
func (v View) Seq() uint64 {
	if v.at == math.MaxUint64 {
		return v.p.LastSeq()
	}
	return v.at
}

// Live reports whether this is the Current view.
func (v View) Live() bool { return v.at == math.MaxUint64 }

// Stat describes the entry at the cleaned path p ("" is the root, which
// always exists).
func (v View) Stat(p string) (Entry, bool) {
	v.p.mu.RLock()
	defer v.p.mu.RUnlock()
	return v.statLocked(p)
}

func (v View) statLocked(p string) (Entry, bool) {
	if ver, ok := v.p.versionAt(p, v.at); ok && !ver.deleted {
		return v.fileEntry(p, ver), true
	}
	if c, ok := v.p.dirAt(p, v.at); p == "" || ok && c.n > 0 {
		return Entry{Name: baseName(p), Kind: KindDir, ModTime: time.Unix(0, c.time).UTC(), Seq: c.seq}, true
	}
	return Entry{}, false
}

func (v View) fileEntry(p string, ver version) Entry {
	return Entry{
		Name:    baseName(p),
		Kind:    KindFile,
		Size:    int64(len(v.p.blobs[ver.blob])),
		ModTime: time.Unix(0, ver.time).UTC(),
		Seq:     ver.seq,
		SHA256:  v.p.blobHash[ver.blob],
	}
}

// Read returns the file at the cleaned path p.
func (v View) Read(p string) (File, bool) {
	v.p.mu.RLock()
	defer v.p.mu.RUnlock()
	ver, ok := v.p.versionAt(p, v.at)
	if !ok || ver.deleted {
		return File{}, false
	}
	return File{Entry: v.fileEntry(p, ver), Path: p, Content: v.p.blobs[ver.blob]}, true
}

// ReadDir lists the directory at the cleaned path dir ("" is the root),
// sorted by name. The second result is false if dir is not a directory in
// this view.
func (v View) ReadDir(dir string) ([]Entry, bool) {
	v.p.mu.RLock()
	defer v.p.mu.RUnlock()
	if dir != "" && !v.p.dirAlive(dir, v.at) {
		return nil, false
	}
	dh := v.p.dirs[dir]
	out := make([]Entry, 0, len(dh.names))
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for _, name := range dh.names {
		if e, ok := v.statLocked(prefix + name); ok {
			out = append(out, e)
		}
	}
	return out, true
}

// Walk calls fn for every file of the view in path order. It holds the read
// lock throughout, so fn must not call back into the projection.
func (v View) Walk(fn func(File)) {
	v.p.mu.RLock()
	defer v.p.mu.RUnlock()
	v.walkLocked("", fn)
}

func (v View) walkLocked(dir string, fn func(File)) {
	dh := v.p.dirs[dir]
	if dh == nil {
		return
	}
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for _, name := range dh.names {
		fp := prefix + name
		if ver, ok := v.p.versionAt(fp, v.at); ok && !ver.deleted {
			fn(File{Entry: v.fileEntry(fp, ver), Path: fp, Content: v.p.blobs[ver.blob]})
		} else if v.p.dirAlive(fp, v.at) {
			v.walkLocked(fp, fn)
		}
	}
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
