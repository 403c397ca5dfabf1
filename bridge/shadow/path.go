package shadow

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Limits on shadow paths. They match common Linux limits so that every
// accepted path can also be shown by the FUSE view.
const (
	MaxNameLen = 255  // bytes in one path element (NAME_MAX)
	MaxPathLen = 4095 // bytes in the whole project-relative path (PATH_MAX - 1)
)

// ErrInvalidPath is wrapped by every error CleanPath returns, so the HTTP
// layer can map all of them to 400 with errors.Is.
var ErrInvalidPath = errors.New("invalid shadow path")

// CleanPath turns a client-supplied path into the canonical project-relative
// form used as the projection's key ("src/main.go"). It rejects, rather than
// repairs, anything that could escape the project or that the FUSE view
// cannot show: absolute paths, ".." elements, NUL bytes, invalid UTF-8,
// empty paths and over-long names. Redundant "./" elements and duplicate or
// trailing slashes are removed.
func CleanPath(p string) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidPath, p, fmt.Sprintf(format, args...))
	}
	switch {
	case p == "":
		return bad("path is empty")
	case strings.IndexByte(p, 0) >= 0:
		return bad("path contains a NUL byte")
	case !utf8.ValidString(p):
		return bad("path is not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("path must be relative to the project, not absolute")
	case len(p) > MaxPathLen:
		return bad("path is longer than %d bytes", MaxPathLen)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return bad(`".." is not allowed`)
		}
		if len(elem) > MaxNameLen {
			return bad("element %.20q... is longer than %d bytes", elem, MaxNameLen)
		}
	}
	c := path.Clean(p)
	if c == "." {
		return bad("path names the project root, not a file")
	}
	return c, nil
}
