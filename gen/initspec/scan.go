package initspec

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/module"
)

// Limits bound the walk of a module; a zero field takes its default.
// Crossing one is an error that names it, never a partial answer.
type Limits struct {
	// Dirs is the most folders walked (default 20,000; the Kubernetes
	// repository has about 5,000 outside vendor).
	Dirs int
	// Files is the most Go files read (default 100,000).
	Files int
	// Header is how much of each Go file is read for its build
	// constraints, package clause and imports (default 64 KiB).
	Header int
}

func (l Limits) withDefaults() Limits {
	if l.Dirs <= 0 {
		l.Dirs = 20000
	}
	if l.Files <= 0 {
		l.Files = 100000
	}
	if l.Header <= 0 {
		l.Header = 64 << 10
	}
	return l
}

// Package is a main package of the module.
type Package struct {
	// Dir is the folder relative to the module root, slash-separated,
	// "." for the root.
	Dir string
	// ImportPath is the module path joined with Dir.
	ImportPath string
}

// Rel is the package as entry.package writes it and the go command takes
// it from the module root: "./cmd/x", or "./" for the root.
func (p Package) Rel() string {
	if p.Dir == "." {
		return "./"
	}
	return "./" + p.Dir
}

// Skipped is a folder the scan could not count as a main package, and why.
type Skipped struct {
	// Dir is relative to the module root, as Package.Rel writes it.
	Dir    string
	Reason string
}

// String is "dir: reason", the folder quoted if it holds a character that
// is not printable.
func (k Skipped) String() string { return show(k.Dir) + ": " + show(k.Reason) }

// Scan is what a walk of the module found.
type Scan struct {
	Module *Module
	// Main are the main packages in walk (lexical) order.
	Main []Package
	// Skipped are folders that hold package main files the go command
	// would refuse, and folders that could not be read.
	Skipped []Skipped
}

// LimitError says the module is larger than a Limits field allows.
type LimitError struct {
	What  string
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the module has more than %d %s; init reads no more", e.Limit, e.What)
}

// dirState collects what the files of one folder say.
type dirState struct {
	rel      string
	packages []string // distinct package names, in file order
	broken   string   // first file that could not be read or parsed
}

// MainPackages walks the module as `go build ./...` would: it skips
// testdata, vendor, folders whose name starts with . or _, folders that
// hold their own go.mod (nested modules) and symbolic links to folders;
// it ignores _test.go files and files excluded on linux/amd64 with
// CGO_ENABLED=0 (the build stage's settings), and reads every other Go
// file's package clause. A folder is a main package when all its files say
// package main and its import path is one the go command accepts.
func MainPackages(m *Module, lim Limits) (*Scan, error) {
	lim = lim.withDefaults()
	s := &Scan{Module: m}
	ctxt := buildContext()
	var dirs []*dirState // in walk order
	byPath := map[string]*dirState{}
	nfiles := 0
	err := filepath.WalkDir(m.Root, func(p string, d fs.DirEntry, err error) error {
		rel, rerr := filepath.Rel(m.Root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			if p == m.Root {
				return err
			}
			// An unreadable folder: say so, keep walking.
			s.Skipped = append(s.Skipped, Skipped{Dir: "./" + rel, Reason: "cannot read it: " + cause(err)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != m.Root {
				if skipDir(d.Name()) {
					return fs.SkipDir
				}
				if _, err := os.Lstat(filepath.Join(p, "go.mod")); err == nil {
					return fs.SkipDir // another module
				}
			}
			if len(dirs) == lim.Dirs {
				return &LimitError{What: "folders", Limit: lim.Dirs}
			}
			byPath[p] = &dirState{rel: rel}
			dirs = append(dirs, byPath[p])
			return nil
		}
		name := d.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		if nfiles == lim.Files {
			return &LimitError{What: "Go files", Limit: lim.Files}
		}
		nfiles++
		pkg, ok, ferr := readPackage(ctxt, p, lim.Header)
		// Files of a folder may come after its subfolders' (lexical order).
		cur := byPath[filepath.Dir(p)]
		if ferr != nil && cur.broken == "" {
			cur.broken = fmt.Sprintf("%s: %v", name, ferr)
		}
		if (ok || ferr != nil) && pkg != "" && !contains(cur.packages, pkg) {
			cur.packages = append(cur.packages, pkg)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		s.classify(d)
	}
	return s, nil
}

// classify adds a folder with package main files to Main or Skipped; a
// folder with a file whose package is unknown may be one, so it is
// named too unless another file says it is a library.
func (s *Scan) classify(d *dirState) {
	if !contains(d.packages, "main") && (d.broken == "" || len(d.packages) > 0) {
		return
	}
	p := Package{Dir: d.rel, ImportPath: s.Module.Path}
	if d.rel != "." {
		p.ImportPath += "/" + d.rel
	}
	switch {
	case len(d.packages) > 1:
		s.Skipped = append(s.Skipped, Skipped{Dir: p.Rel(), Reason: "its files are of several packages (" + strings.Join(d.packages, ", ") + ")"})
	case d.broken != "":
		s.Skipped = append(s.Skipped, Skipped{Dir: p.Rel(), Reason: "a file cannot be read: " + d.broken})
	default:
		if err := module.CheckImportPath(p.ImportPath); err != nil {
			s.Skipped = append(s.Skipped, Skipped{Dir: p.Rel(), Reason: "the go command refuses its import path: " + cause(err)})
			return
		}
		s.Main = append(s.Main, p)
	}
}

// skipDir are the folders the go command leaves out of ./...
func skipDir(name string) bool {
	return name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// buildContext matches files as the builder stage compiles them.
func buildContext() *build.Context {
	c := build.Default
	c.GOOS, c.GOARCH, c.CgoEnabled = "linux", "amd64", false
	c.BuildTags = nil
	c.UseAllFiles = false
	return &c
}

// readPackage reads the head of a Go file and returns its package name,
// with include false when the build leaves the file out (build
// constraints, a file name for another system, import "C" without cgo,
// package documentation) or it is not a regular file. The head is at most
// limit bytes: a package clause and its imports are far shorter. An error
// comes with the package name when the clause could be read.
func readPackage(ctxt *build.Context, p string, limit int) (name string, include bool, err error) {
	fi, err := os.Stat(p) // follows a symbolic link to a file, as go does
	if err != nil {
		return "", false, err
	}
	if !fi.Mode().IsRegular() {
		return "", false, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return "", false, err
	}
	head, err := io.ReadAll(io.LimitReader(f, int64(limit)))
	f.Close()
	if err != nil {
		return "", false, err
	}
	truncated := fi.Size() > int64(limit)
	fset := token.NewFileSet()
	clause, err := parser.ParseFile(fset, p, head, parser.PackageClauseOnly)
	src := head
	switch {
	case err == nil:
		name = clause.Name.Name
	case !truncated:
		return "", false, err
	default:
		// The head ends inside what follows the clause (a long cgo
		// preamble, say), which the parser's look-ahead trips on.
		// Build constraints precede the clause, so go/build reads the
		// head up to it.
		var end int
		if name, end = scanClause(head); name == "" {
			return "", false, fmt.Errorf("no package clause in its first %d bytes", limit)
		}
		src = append(head[:end:end], '\n')
	}
	c := *ctxt
	c.OpenFile = func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(src)), nil }
	dir, base := filepath.Split(p)
	if match, err := c.MatchFile(dir, base); err != nil || !match {
		return name, false, err
	}
	if name == "documentation" {
		return name, false, nil // go/build ignores these
	}
	imports, err := parser.ParseFile(fset, p, head, parser.ImportsOnly)
	if err != nil {
		if truncated {
			return name, true, nil // cgo or not, unknown: counted
		}
		return name, false, err
	}
	for _, im := range imports.Imports {
		if v, err := strconv.Unquote(im.Path.Value); err == nil && v == "C" {
			return name, false, nil // cgo file, left out with CGO_ENABLED=0
		}
	}
	return name, true, nil
}

// scanClause finds "package NAME" at the start of src with Go's own
// scanner, before anything else but comments and before any scanning
// error; it returns the name and the offset just after it.
func scanClause(src []byte) (string, int) {
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var sc scanner.Scanner
	failed := false
	sc.Init(file, src, func(token.Position, string) { failed = true }, 0)
	if _, tok, _ := sc.Scan(); tok != token.PACKAGE || failed {
		return "", 0
	}
	pos, tok, lit := sc.Scan()
	if tok != token.IDENT || failed || lit == "_" {
		return "", 0
	}
	return lit, file.Offset(pos) + len(lit)
}

// cause is the reason inside a path error, without the path the caller
// names itself.
func cause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var ie *module.InvalidPathError
	if errors.As(err, &ie) {
		return ie.Err.Error()
	}
	return err.Error()
}

// show prints a folder or argument as it is when every rune is printable,
// else Go-quoted, so a name cannot break the line it is listed on.
func show(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Choose picks the main package: the only one, or the one want names,
// either relative to the module root ("./cmd/x", "." for the root) or
// by import path. Several without want, none, or a want that is not one
// of them is an error listing the choices.
func (s *Scan) Choose(want string) (Package, error) {
	if want == "" {
		switch len(s.Main) {
		case 0:
			return Package{}, s.noMain()
		case 1:
			return s.Main[0], nil
		}
		return Package{}, fmt.Errorf("module %s has %d main packages; pick one with --package:%s%s", s.Module.Path, len(s.Main), s.list(), s.listSkipped())
	}
	rel, err := s.relPackage(want)
	if err != nil {
		return Package{}, err
	}
	for _, p := range s.Main {
		if p.Dir == rel {
			return p, nil
		}
	}
	for _, k := range s.Skipped {
		if k.Dir == (Package{Dir: rel}).Rel() {
			return Package{}, fmt.Errorf("--package %s: not a main package the go command builds: %s", show(want), show(k.Reason))
		}
	}
	if len(s.Main) == 0 {
		return Package{}, fmt.Errorf("--package %s: %w", show(want), s.noMain())
	}
	return Package{}, fmt.Errorf("--package %s is not a main package of module %s; its main packages:%s%s", show(want), s.Module.Path, s.list(), s.listSkipped())
}

// relPackage turns --package into a folder relative to the module root.
func (s *Scan) relPackage(want string) (string, error) {
	mp := s.Module.Path
	var rel string
	switch {
	case want == mp:
		rel = "."
	case strings.HasPrefix(want, mp+"/"):
		rel = strings.TrimPrefix(want, mp+"/")
	case want == "." || strings.HasPrefix(want, "./"):
		rel = want
	default:
		return "", fmt.Errorf("--package %s: name the package relative to the module root, as ./cmd/x, or by its import path in module %s", show(want), mp)
	}
	rel = path.Clean(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("--package %s is outside the module %s (%s)", show(want), mp, show(s.Module.Root))
	}
	return rel, nil
}

func (s *Scan) noMain() error {
	msg := fmt.Sprintf("module %s (%s) has no main package: init writes a spec for a Go program, a folder of package main files with a func main, such as cmd/NAME/main.go", s.Module.Path, show(s.Module.Root))
	return errors.New(msg + s.listSkipped())
}

func (s *Scan) list() string {
	var b strings.Builder
	for _, p := range s.Main {
		b.WriteString("\n\t" + show(p.Rel()))
	}
	return b.String()
}

// listSkipped is empty, or a line saying what was skipped and one line
// per folder.
func (s *Scan) listSkipped() string {
	if len(s.Skipped) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nskipped:")
	for _, k := range s.Skipped {
		b.WriteString("\n\t" + k.String())
	}
	return b.String()
}
