// Package regular opens and reads files that must be regular files (a
// spec's .cue files, artifacts to audit, a binary), refusing anything else
// with an error that says what the file is. A named pipe opened for
// reading waits for a writer forever and a device such as /dev/zero never
// ends, so every file is opened without blocking (O_NONBLOCK) and checked
// on the open descriptor before a byte is read: a file swapped for a FIFO
// between a check and the open is refused too.
package regular

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Error says why a file was refused.
type Error struct {
	Path string
	// What the file is: "a named pipe (FIFO)", "a folder", ...; or how
	// reading it failed.
	What string
	// Link is the target when Path is a symbolic link to what it names.
	Link string
	// TooLarge is set when the file holds more than the limit.
	TooLarge bool
	Err      error
}

func (e *Error) Error() string {
	switch {
	case e.TooLarge:
		return fmt.Sprintf("%s %s", e.Path, e.What)
	case e.Link != "":
		return fmt.Sprintf("%s is a symbolic link to %s, which is %s, not a regular file", e.Path, e.Link, e.What)
	case e.Err != nil:
		return fmt.Sprintf("%s cannot be read: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, e.What)
}

func (e *Error) Unwrap() error { return e.Err }

// Kind names what a file of mode m is, when it is not a regular file.
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

func refuse(name string, fi fs.FileInfo) error {
	e := &Error{Path: name, What: Kind(fi.Mode())}
	if target, err := os.Readlink(name); err == nil {
		e.Link = target
	}
	return e
}

// Open opens name for reading if it is a regular file (links followed).
// A missing file is reported as fs.ErrNotExist (errors.Is).
func Open(name string) (*os.File, error) {
	fi, err := os.Stat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, &Error{Path: name, Err: unwrap(err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, refuse(name, fi)
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, &Error{Path: name, Err: unwrap(err)}
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, &Error{Path: name, Err: err}
		}
		return nil, refuse(name, fi)
	}
	return f, nil
}

// MaxArtifactBytes bounds an artifact lighthouse-gen reads back (audit,
// build --check): a generated one is a few KiB, and one of a spec with
// 85,000 labels 10 MB.
const MaxArtifactBytes = 64 << 20

// ReadFile reads name whole if it is a regular file of at most max bytes.
func ReadFile(name string, max int64) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &Error{Path: name, Err: unwrap(err)}
	}
	if int64(len(b)) > max {
		return nil, &Error{Path: name, What: fmt.Sprintf("is larger than %d MiB, more than lighthouse-gen reads", max>>20), TooLarge: true}
	}
	return b, nil
}

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
