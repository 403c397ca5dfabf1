package initspec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the file init writes in the spec folder.
const FileName = "service.cue"

// ExistsError says the spec file is there already and --force was not
// given.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s exists; init does not overwrite a spec (--force replaces it)", show(e.Path))
}

// Write stores data as dir/FileName, creating dir; a relative dir is
// below base, and errors name dir as given. It refuses a dir that
// is a file, a dir holding other .cue files (they would join the spec's
// CUE package, --force or not) and, without force, an existing
// FileName. The file appears whole or not at all: it is staged next to
// its place and linked (without force, so a file created meanwhile is
// not replaced either) or renamed (with force) into place.
func Write(base, dir string, data []byte, force bool) (string, error) {
	full := dir
	if !filepath.IsAbs(dir) {
		full = filepath.Join(base, dir)
	}
	if fi, err := os.Stat(full); err == nil && !fi.IsDir() {
		return "", fmt.Errorf("%s is a file; init writes the spec into a folder: name a folder", show(dir))
	}
	if err := os.MkdirAll(full, 0o755); err != nil {
		return "", err
	}
	shown := filepath.Join(dir, FileName)
	final := filepath.Join(full, FileName)
	if err := checkFolder(full, final, shown, force); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(full, "."+FileName+".*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if force {
		return shown, os.Rename(tmp.Name(), final)
	}
	err = os.Link(tmp.Name(), final)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// No hard links here (some FUSE and FAT file systems): claim the
		// name exclusively, then rename the staged file over the claim.
		var claim *os.File
		if claim, err = os.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			claim.Close()
			err = os.Rename(tmp.Name(), final)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return "", &ExistsError{Path: shown}
	}
	if err != nil {
		return "", err
	}
	return shown, nil
}

// checkFolder refuses a folder that already holds a spec.
func checkFolder(dir, final, shown string, force bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var others []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cue") && e.Name() != FileName {
			others = append(others, show(e.Name()))
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%s already holds CUE files (%s), which would join the starter's package; init writes a new spec folder: name another one", show(filepath.Dir(shown)), strings.Join(others, ", "))
	}
	fi, err := os.Lstat(final)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !force:
		return &ExistsError{Path: shown}
	case fi.IsDir():
		return fmt.Errorf("%s is a folder; --force replaces a spec file, not a folder", show(shown))
	}
	return nil
}
