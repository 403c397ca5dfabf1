package initspec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// maxGoMod bounds the go.mod read: a real one is a few kilobytes, even
// with hundreds of requirements.
const maxGoMod = 1 << 20

// DefaultGoVersion is the builder image's Go version when go.mod names
// none (no go or toolchain line): the release lighthouse-gen is built and
// tested with.
const DefaultGoVersion = "1.26"

// Module is the Go module init writes a spec for.
type Module struct {
	// Root is the absolute folder holding go.mod.
	Root string
	// Path is the module path of go.mod's module line.
	Path string
	// GoVersion is the Go release the builder image uses: go.mod's
	// toolchain line without "go" when it names a release, else its go
	// line, else DefaultGoVersion.
	GoVersion string
}

// NotInModuleError says no go.mod lies at or above the folder.
type NotInModuleError struct{ Dir string }

func (e *NotInModuleError) Error() string {
	return fmt.Sprintf("%s is not inside a Go module (no go.mod in it or any folder above it): run init in the module of the program, or create one with go mod init", e.Dir)
}

// FindModule reads the go.mod at or nearest above dir, as the go command
// finds the main module (GOWORK and -modfile aside).
func FindModule(dir string) (*Module, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "go.mod")
		fi, err := os.Stat(p)
		if err == nil && !fi.IsDir() {
			return readModule(d, p, fi)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("looking for go.mod: %w", err)
		}
		if d == filepath.Dir(d) {
			return nil, &NotInModuleError{Dir: abs}
		}
	}
}

func readModule(root, p string, fi fs.FileInfo) (*Module, error) {
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if fi.Size() > maxGoMod {
		return nil, fmt.Errorf("%s is larger than %d bytes; init reads go.mod files up to that size", p, maxGoMod)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxGoMod+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxGoMod {
		return nil, fmt.Errorf("%s is larger than %d bytes; init reads go.mod files up to that size", p, maxGoMod)
	}
	mf, err := modfile.Parse(p, data, nil)
	if err != nil {
		return nil, err
	}
	if mf.Module == nil || mf.Module.Mod.Path == "" {
		return nil, fmt.Errorf("%s has no module line: write module PATH in it (go mod init PATH)", p)
	}
	path := mf.Module.Mod.Path
	if err := module.CheckImportPath(path); err != nil {
		return nil, fmt.Errorf("%s: the module path %q is not one the go command builds: %v", p, path, errors.Unwrap(err))
	}
	m := &Module{Root: root, Path: path, GoVersion: DefaultGoVersion}
	if mf.Go != nil && modfile.GoVersionRE.MatchString(mf.Go.Version) {
		m.GoVersion = mf.Go.Version
	}
	if mf.Toolchain != nil {
		if v, ok := strings.CutPrefix(mf.Toolchain.Name, "go"); ok && modfile.GoVersionRE.MatchString(v) {
			m.GoVersion = v
		}
	}
	return m, nil
}
