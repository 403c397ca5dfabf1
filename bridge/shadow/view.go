package shadow

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
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

// ErrMissingContent is wrapped by the error of reading a version whose
// content the store does not hold (a damaged store), or of a projection
// without Options.Blobs.
var ErrMissingContent = errors.New("shadow content missing from the event store")

// File is one version of a shadow file. It reads its content from the
// store (ReadAt) on demand: nothing of it is held in memory.
type File struct {
	Entry
	Path  string
	blobs Blobs
}

// ReadAt reads the version's content at off, as io.ReaderAt does. Each
// call reads only what p can hold.
func (f File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %q: negative offset %d", f.Path, off)
	}
	if off >= f.Size {
		return 0, io.EOF
	}
	if f.blobs == nil {
		return 0, fmt.Errorf("%w: %q (no content store)", ErrMissingContent, f.Path)
	}
	want := min(int64(len(p)), f.Size-off)
	n, err := f.blobs.ReadBlobAt(f.SHA256, p[:want], off)
	switch {
	case int64(n) == want && int64(len(p)) > want:
		return n, io.EOF
	case int64(n) == want:
		return n, nil
	case err == nil || errors.Is(err, io.EOF):
		return n, fmt.Errorf("%w: %q: content shorter than its %d bytes", ErrMissingContent, f.Path, f.Size)
	default:
		return n, fmt.Errorf("%w: %q at sequence %d: %w", ErrMissingContent, f.Path, f.Seq, err)
	}
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
		Size:    v.p.blobSize[ver.blob],
		ModTime: time.Unix(0, ver.time).UTC(),
		Seq:     ver.seq,
		SHA256:  v.p.blobHash[ver.blob],
	}
}

// Open returns the file at the cleaned path p for reading, after
// checking that the store holds its content: an error wrapping
// ErrNotFound when p is no file in this view, ErrMissingContent when the
// content is missing or of another size.
func (v View) Open(p string) (File, error) {
	v.p.mu.RLock()
	ver, ok := v.p.versionAt(p, v.at)
	if !ok || ver.deleted {
		v.p.mu.RUnlock()
		return File{}, fmt.Errorf("%w: %q as of sequence %d", ErrNotFound, p, v.Seq())
	}
	f := File{Entry: v.fileEntry(p, ver), Path: p, blobs: v.p.store}
	v.p.mu.RUnlock()
	if f.Size == 0 {
		return f, nil // nothing to read, nothing that could be missing
	}
	if f.blobs == nil {
		return File{}, fmt.Errorf("%w: %q (no content store)", ErrMissingContent, p)
	}
	n, err := f.blobs.BlobSize(f.SHA256)
	if err != nil {
		return File{}, fmt.Errorf("%w: %q at sequence %d: %w", ErrMissingContent, p, f.Seq, err)
	}
	if n != f.Size {
		return File{}, fmt.Errorf("%w: %q at sequence %d: the store holds %d bytes, the version %d", ErrMissingContent, p, f.Seq, n, f.Size)
	}
	return f, nil
}

// ReadDir lists the directory at the cleaned path dir ("" is the root),
// sorted by name. The second result is false if dir is not a directory in
// this view.
func (v View) ReadDir(dir string) ([]Entry, bool) {
	return v.ReadDirAfter(dir, "", math.MaxInt)
}

// ReadDirAfter is ReadDir from the first name after after ("" for the
// start), at most n entries: a listing read in parts holds only a part in
// memory, and picks up where it stopped even if entries came or went
// meanwhile (names are sorted).
func (v View) ReadDirAfter(dir, after string, n int) ([]Entry, bool) {
	v.p.mu.RLock()
	defer v.p.mu.RUnlock()
	if dir != "" && !v.p.dirAlive(dir, v.at) {
		return nil, false
	}
	dh := v.p.dirs[dir]
	i := 0
	if after != "" {
		i = sort.SearchStrings(dh.names, after)
		if i < len(dh.names) && dh.names[i] == after {
			i++
		}
	}
	out := make([]Entry, 0, min(n, len(dh.names)-i))
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for _, name := range dh.names[i:] {
		if len(out) >= n {
			break
		}
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
			fn(File{Entry: v.fileEntry(fp, ver), Path: fp, blobs: v.p.store})
		} else if v.p.dirAlive(fp, v.at) {
			v.walkLocked(fp, fn)
		}
	}
}

// WalkAfter is Walk from the first file after the path after ("" for
// the start), in Walk's order, stopping after n files; it returns the
// last path given ("" when none) and whether files may follow. It holds
// the read lock only for these n, so a long walk is done in parts, each
// picking up where the last stopped. Use it on a view of one sequence
// (At): the live view may change between parts.
func (v View) WalkAfter(after string, n int, fn func(File)) (last string, more bool) {
	v.p.mu.RLock()
	defer v.p.mu.RUnlock()
	var rest []string
	if after != "" {
		rest = strings.Split(after, "/")
	}
	left := n
	v.walkAfterLocked("", rest, &left, &last, fn)
	return last, left == 0
}

// walkAfterLocked walks dir's files after the path elements rest (below
// dir), while left is positive.
func (v View) walkAfterLocked(dir string, rest []string, left *int, last *string, fn func(File)) {
	dh := v.p.dirs[dir]
	if dh == nil {
		return
	}
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	names := dh.names
	if len(rest) > 0 {
		names = names[sort.SearchStrings(names, rest[0]):]
	}
	for _, name := range names {
		if *left <= 0 {
			return
		}
		fp := prefix + name
		var below []string
		if len(rest) > 0 && name == rest[0] {
			if len(rest) == 1 {
				continue // after itself
			}
			below = rest[1:]
		}
		if ver, ok := v.p.versionAt(fp, v.at); ok && !ver.deleted {
			if below != nil {
				continue // was a directory when after was given
			}
			fn(File{Entry: v.fileEntry(fp, ver), Path: fp, blobs: v.p.store})
			*left--
			*last = fp
		} else if v.p.dirAlive(fp, v.at) {
			v.walkAfterLocked(fp, below, left, last, fn)
		}
		rest = nil // past the first name: everything after it
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
