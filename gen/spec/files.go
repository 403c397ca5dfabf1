package spec

import (
	"bytes"
	stderrors "errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/lighthouse-project/lighthouse/gen/regular"
)

// MaxSpecBytes bounds what one load of a spec folder reads: the spec's
// files and whatever else CUE reads for it (cue.mod/module.cue, files of
// the same package in parent folders of a CUE module). A spec is a few
// KiB; the largest one the benchmarks time (85,000 labels) is 1.9 MB.
// CUE's evaluation of a struct grows faster than its size, so this also
// bounds the time a load can take.
const MaxSpecBytes = 4 << 20

// MaxSpecFiles bounds the .cue files of a spec folder: CUE opens every
// one of them.
const MaxSpecFiles = 1000

// specFS is the file system CUE loads a spec folder through
// (load.Config.FS), rooted at the host's /. It reads only regular files:
// a named pipe, socket, device or folder where CUE expects a file, a
// link to one, a dangling link or an unreadable file is refused with an
// error naming it, never opened in a way that can block (a FIFO opened
// for reading waits for a writer forever; /dev/zero never ends). Every
// file is opened non-blocking and checked again on the open descriptor,
// so a file swapped for a FIFO after the check is refused too. It reads
// at most MaxSpecBytes in all.
type specFS struct {
	// dir is the spec folder as the user named it and abs its absolute
	// path: files in it are named as dir/<file> in errors.
	dir, abs string

	mu sync.Mutex
	// sizes are the bytes of each file read, by path (CUE reads a
	// file more than once: its package clause, then all of it); their
	// sum is bounded by MaxSpecBytes.
	sizes   map[string]int64
	total   int64
	refused error // the first file refused; Load reports it alone
}

func newSpecFS(dir, abs string) *specFS {
	return &specFS{dir: dir, abs: abs, sizes: map[string]int64{}}
}

// refusal is the error of a file the loader cannot read: a CUE error
// (so Details prints it), at a position in the file when one helps.
type refusal struct {
	msg string
	pos token.Pos
}

func (e *refusal) Error() string                    { return e.msg }
func (e *refusal) Position() token.Pos              { return e.pos }
func (e *refusal) InputPositions() []token.Pos      { return nil }
func (e *refusal) Path() []string                   { return nil }
func (e *refusal) Msg() (format string, args []any) { return "%s", []any{e.msg} }

// name is how an error names the file at absolute path p: relative to
// the spec folder as the user gave it, or absolute outside it.
func (f *specFS) name(p string) string {
	if rel, err := filepath.Rel(f.abs, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.Join(f.dir, rel)
	}
	return p
}

// refuse records the first refusal and returns it (as a *fs.PathError
// wrapping it, which CUE wraps again; Load reports the recorded one).
func (f *specFS) refuse(p, format string, args ...any) error {
	return f.refuseAt(p, token.NoPos, format, args...)
}

func (f *specFS) refuseAt(p string, pos token.Pos, format string, args ...any) error {
	err := &refusal{msg: fmt.Sprintf("spec file %s ", f.name(p)) + fmt.Sprintf(format, args...), pos: pos}
	f.mu.Lock()
	if f.refused == nil {
		f.refused = err
	}
	f.mu.Unlock()
	return &fs.PathError{Op: "open", Path: p, Err: err}
}

// Refused is the first file the load refused, or nil.
func (f *specFS) Refused() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

// kindOf names what a file of mode m is when it is not a regular file.
func kindOf(m fs.FileMode) string { return regular.Kind(m) }

// notRegular explains why the file at p (os.Stat gave fi) cannot be read.
func (f *specFS) notRegular(p string, fi fs.FileInfo) error {
	what := kindOf(fi.Mode())
	if target, err := os.Readlink(p); err == nil {
		what = fmt.Sprintf("a symbolic link to %s, which is %s", target, what)
	}
	return f.refuse(p, "is %s, not a regular file: a spec file must hold CUE text; remove it from the spec folder or rename it so that its name does not end in .cue", what)
}

// statErr explains a failed os.Stat of p. A path that does not exist is
// passed through as such (CUE probes for cue.mod/module.cue), unless it
// is a link whose target is missing.
func (f *specFS) statErr(p string, err error) error {
	if stderrors.Is(err, fs.ErrNotExist) {
		if target, lerr := os.Readlink(p); lerr == nil {
			return f.refuse(p, "is a symbolic link to %s, which does not exist; remove the link or point it at a spec file", target)
		}
		return err
	}
	return f.unreadable(p, err)
}

func (f *specFS) unreadable(p string, err error) error {
	var errno syscall.Errno
	switch {
	case stderrors.Is(err, fs.ErrPermission):
		return f.refuse(p, "cannot be read: permission denied; make it readable (chmod a+r) or remove it from the spec folder")
	case stderrors.As(err, &errno) && errno == syscall.ELOOP:
		return f.refuse(p, "is a symbolic link that leads back to itself (too many levels of links); remove it")
	}
	return f.refuse(p, "cannot be read: %v", unwrapPath(err))
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if stderrors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openNoBlock opens p for reading without waiting (O_NONBLOCK: a FIFO
// with no writer opens at once instead of blocking) and returns it with
// its type as the open descriptor sees it.
func openNoBlock(p string) (*os.File, fs.FileInfo, error) {
	fd, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, nil, err
	}
	return fd, fi, nil
}

func (f *specFS) path(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return "/" + name, nil
}

// Open opens a folder (for ReadDir) or reads a whole regular file.
func (f *specFS) Open(name string) (fs.File, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, f.statErr(p, err)
	}
	if fi.IsDir() {
		fd, dfi, err := openNoBlock(p)
		if err != nil {
			return nil, f.unreadable(p, err)
		}
		if !dfi.IsDir() {
			fd.Close()
			return nil, f.notRegular(p, dfi)
		}
		return fd, nil
	}
	b, fi, err := f.readFile(p, fi)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(b), fi: fi}, nil
}

// ReadFile reads a whole regular file, within what is left of
// MaxSpecBytes.
func (f *specFS) ReadFile(name string) ([]byte, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, f.statErr(p, err)
	}
	b, _, err := f.readFile(p, fi)
	return b, err
}

func (f *specFS) readFile(p string, fi fs.FileInfo) ([]byte, fs.FileInfo, error) {
	if !fi.Mode().IsRegular() {
		return nil, nil, f.notRegular(p, fi)
	}
	fd, fi, err := openNoBlock(p)
	if err != nil {
		return nil, nil, f.unreadable(p, err)
	}
	defer fd.Close()
	if !fi.Mode().IsRegular() { // swapped since the Stat
		return nil, nil, f.notRegular(p, fi)
	}
	f.mu.Lock()
	left := MaxSpecBytes - (f.total - f.sizes[p])
	f.mu.Unlock()
	b, err := io.ReadAll(io.LimitReader(fd, left+1))
	if err != nil {
		return nil, nil, f.unreadable(p, err)
	}
	f.mu.Lock()
	f.total += int64(len(b)) - f.sizes[p]
	f.sizes[p] = int64(len(b))
	over := f.total > MaxSpecBytes
	f.mu.Unlock()
	if over {
		return nil, nil, f.refuse(p, "makes the spec larger than %d MiB, the most lighthouse-gen reads for one spec; a spec is a few KiB: remove what it does not need", MaxSpecBytes>>20)
	}
	if !utf8.Valid(b) {
		// CUE's scanner passes such bytes into strings, and so into
		// the artifacts.
		off, bad := invalidUTF8(b)
		tf := token.NewFile(p, -1, len(b))
		tf.SetLinesForContent(b)
		return nil, nil, f.refuseAt(p, tf.Pos(off, token.NoRelPos), "holds the byte %#x, which is not UTF-8; CUE files are UTF-8 text: convert the file (iconv -t UTF-8) or replace the byte", bad)
	}
	return b, fi, nil
}

// ReadDir lists a folder, sorted by name, opening it without blocking.
func (f *specFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, f.statErr(p, err)
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: syscall.ENOTDIR}
	}
	fd, dfi, err := openNoBlock(p)
	if err != nil {
		return nil, f.unreadable(p, err)
	}
	defer fd.Close()
	if !dfi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: syscall.ENOTDIR}
	}
	entries, err := fd.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// Stat follows links, as CUE's loader on the host does.
func (f *specFS) Stat(name string) (fs.FileInfo, error) {
	p, err := f.path(name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, f.statErr(p, err)
	}
	return fi, nil
}

// memFile is a regular file read whole.
type memFile struct {
	*bytes.Reader
	fi fs.FileInfo
}

func (m *memFile) Stat() (fs.FileInfo, error) { return m.fi, nil }
func (m *memFile) Close() error               { return nil }

// checkSpecFiles refuses, before CUE reads anything, every entry of the
// spec folder abs (named dir by the user) whose name ends in .cue and
// which is not a regular file (CUE reads every such name, even .x.cue and
// _x.cue, and silently skips a folder named x.cue), so the author learns
// of each one in a single run (a CUE error list, one error per file).
func checkSpecFiles(dir, abs string, entries []fs.DirEntry) error {
	f := newSpecFS(dir, abs)
	var errs cueerrors.Error
	if n := len(slices.DeleteFunc(slices.Clone(entries), func(e fs.DirEntry) bool { return !strings.HasSuffix(e.Name(), ".cue") })); n > MaxSpecFiles {
		return fmt.Errorf("spec folder %s holds %d .cue files, more than the %d lighthouse-gen reads for one spec; a spec is a few files: move the others out", dir, n, MaxSpecFiles)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		p := filepath.Join(abs, e.Name())
		fi, err := os.Stat(p)
		if err == nil && !fi.Mode().IsRegular() {
			err = f.notRegular(p, fi)
		} else if err != nil {
			err = f.statErr(p, err)
		}
		if err != nil {
			errs = cueerrors.Append(errs, cueerrors.Promote(unwrapPath(err), ""))
		}
	}
	if errs != nil {
		return errs
	}
	return nil
}

// invalidUTF8 is the offset of the first byte of b that is not UTF-8,
// and that byte.
func invalidUTF8(b []byte) (off int, bad byte) {
	for off < len(b) {
		r, n := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && n <= 1 {
			return off, b[off]
		}
		off += n
	}
	return off, 0
}
