package audit

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/regular"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// RuleBinary names findings about a built entry that is not the spec's
// entry package.
const RuleBinary = "binary"

// Binary reads the build information a Go binary carries (debug/buildinfo,
// what `go version -m` prints) and holds it to the spec: its main package
// must be the spec's entry.package in module (the module of the build
// context; "" trusts the binary's own main module, which proves less),
// and it must link no module the spec's image.forbid.goModules lists, by
// path or path prefix (a module replaced by another counts under both
// paths). file names the binary in findings. A file that is not a Go
// binary is an error, not a pass.
func Binary(s *spec.Service, file, cwd, module string) ([]check.Finding, error) {
	// gen/regular: a FIFO or device named as the binary is refused, never
	// a hang.
	f, err := regular.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := buildinfo.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read its Go build information: %w", file, err)
	}
	var fs []check.Finding
	add := func(rule, format string, args ...any) {
		fs = append(fs, check.Finding{File: file, Line: 0, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	if module == "" {
		module = info.Main.Path
	}
	if want := mainPackage(module, s.Entry.Package); info.Path != want {
		add(RuleBinary, "main package %s (module %s), but the spec's entry is %s in module %s: another program (spec: %s)",
			info.Path, info.Main.Path, want, module, s.Where("entry.package", cwd))
	}
	mods := []struct{ path, version string }{{info.Main.Path, info.Main.Version}}
	for _, d := range info.Deps {
		mods = append(mods, struct{ path, version string }{d.Path, d.Version})
		if d.Replace != nil {
			mods = append(mods, struct{ path, version string }{d.Replace.Path, d.Replace.Version})
		}
	}
	for _, m := range mods {
		if i := slices.IndexFunc(s.Image.Forbid.GoModules, func(f string) bool {
			return m.path == f || strings.HasPrefix(m.path, f+"/")
		}); i >= 0 {
			add(RuleForbidden, "links Go module %s %s, which the spec forbids (spec: %s)", m.path, m.version,
				s.Where(fmt.Sprintf("image.forbid.goModules[%d]", i), cwd))
		}
	}
	return check.SortFindings(fs), nil
}

// mainPackage is the import path of package pkg ("./cmd/x", ".") in
// module.
func mainPackage(module, pkg string) string {
	p := path.Clean(strings.TrimPrefix(pkg, "./"))
	if p == "." {
		return module
	}
	return module + "/" + p
}

// ModulePath reads the module path from the go.mod in dir, "" when dir
// holds none.
func ModulePath(dir string) (string, error) {
	data, err := regular.ReadFile(filepath.Join(dir, "go.mod"), MaxArtifactSize)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	p := modfile.ModulePath(data)
	if p == "" {
		return "", fmt.Errorf("%s: no module line", filepath.Join(dir, "go.mod"))
	}
	return p, nil
}
