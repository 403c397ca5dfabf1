package initspec

import (
	"errors"
	"path/filepath"
	"strings"
)

// DefaultDir is the spec folder below the module root when the caller
// names none: deploy/NAME, so the specs of several programs of one module
// sit side by side and each can hold its own artifacts (build --out).
func DefaultDir(root, name string) string {
	return filepath.Join(root, "deploy", name)
}

// Options are the inputs of Init, as the command's flags give them.
type Options struct {
	// WorkDir is where init runs; the module is the one holding it.
	WorkDir string
	// Dir is the spec folder, relative to WorkDir unless absolute; empty
	// means DefaultDir.
	Dir string
	// Package picks the main package (Scan.Choose); empty: the only one.
	Package string
	// Name overrides the service name derived from the package.
	Name string
	// Force replaces an existing spec file.
	Force bool
	// Limits bound the walk of the module.
	Limits Limits
}

// Result says what Init did.
type Result struct {
	// Path is the spec file written and Dir the folder holding it, both
	// as Options.Dir gives them, or for the default relative to WorkDir
	// when below it.
	Path, Dir string
	// InModule says Dir lies in the module, so build's --out may be Dir
	// (the build context is the module root).
	InModule bool
	Module   *Module
	Package  Package
	// Name is the service name; Exec the binary name go build would give
	// the package, which Name was derived from unless Options.Name.
	Name, Exec string
	// Skipped are folders with main files the scan could not count.
	Skipped []Skipped
}

// Init finds the module and its main package, derives the service name
// and writes the starter spec.
func Init(o Options) (*Result, error) {
	if !filepath.IsAbs(o.WorkDir) {
		return nil, errors.New("initspec: Options.WorkDir must be an absolute folder")
	}
	m, err := FindModule(o.WorkDir)
	if err != nil {
		return nil, err
	}
	scan, err := MainPackages(m, o.Limits)
	if err != nil {
		return nil, err
	}
	pkg, err := scan.Choose(o.Package)
	if err != nil {
		return nil, err
	}
	r := &Result{Module: m, Package: pkg, Exec: ExecName(pkg.ImportPath), Skipped: scan.Skipped}
	if o.Name != "" {
		if err := CheckName(o.Name); err != nil {
			return nil, err
		}
		r.Name = o.Name
	} else if r.Name, err = ServiceName(r.Exec); err != nil {
		return nil, err
	}
	r.Dir = o.Dir
	if r.Dir == "" {
		r.Dir = relTo(o.WorkDir, DefaultDir(m.Root, r.Name))
	}
	abs := r.Dir
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(o.WorkDir, abs)
	}
	r.InModule = within(m.Root, abs)
	data, err := Render(Values{
		Name:        r.Name,
		Description: r.Name + ", the Go program " + pkg.ImportPath,
		Package:     pkg.Rel(),
		Binary:      r.Name,
		Builder:     "golang:" + m.GoVersion,
	})
	if err != nil {
		return nil, err
	}
	if r.Path, err = Write(o.WorkDir, r.Dir, data, o.Force); err != nil {
		return nil, err
	}
	return r, nil
}

// relTo is p (absolute) relative to wd when it lies at or below wd, else p.
func relTo(wd, p string) string {
	if within(wd, p) {
		if rel, err := filepath.Rel(wd, p); err == nil {
			return rel
		}
	}
	return p
}

// within reports whether the absolute path p is root or below it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
