package initspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

// tree writes the files of a txtar archive below a new temporary folder.
func tree(t *testing.T, archive string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range txtar.Parse([]byte(archive)).Files {
		p := filepath.Join(root, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func scan(t *testing.T, root string, lim Limits) *Scan {
	t.Helper()
	m, err := FindModule(root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := MainPackages(m, lim)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rels(ps []Package) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Rel())
	}
	return out
}

const mainGo = "package main\n\nfunc main() {}\n"

// TestMainPackagesSkipsWhatGoSkips: only folders go build ./... would
// build as package main on linux/amd64 without cgo are main packages.
func TestMainPackagesSkipsWhatGoSkips(t *testing.T) {
	root := tree(t, `
-- go.mod --
module example.com/m

go 1.22
-- main.go --
package main

func main() {}
-- cmd/a/main.go --
// Copyright notice.

// Command a does things.
package main

import "fmt"

func main() { fmt.Println() }
-- cmd/a/sub/z.go --
package sub
-- cmd/b/b.go --
//go:build linux

package main
-- cmd/b/b_windows.go --
package other
-- lib/lib.go --
package lib
-- lib/lib_test.go --
package main
-- lib/other_windows.go --
package main
-- lib/tagged.go --
//go:build ignore

package main
-- lib/cgo.go --
package main

import "C"
-- lib/doc.go --
package documentation
-- testdata/t/main.go --
package main
-- vendor/v/main.go --
package main
-- .hidden/main.go --
package main
-- _under/main.go --
package main
-- nested/go.mod --
module example.com/nested
-- nested/cmd/n/main.go --
package main
-- winonly/main_windows.go --
package main
-- zlast/a/a.go --
package a
-- zlast/z.go --
package main
`)
	s := scan(t, root, Limits{})
	want := []string{"./", "./cmd/a", "./cmd/b", "./zlast"}
	if diff := cmp.Diff(want, rels(s.Main)); diff != "" {
		t.Errorf("main packages (-want +got):\n%s", diff)
	}
	if len(s.Skipped) != 0 {
		t.Errorf("skipped %v, want none", s.Skipped)
	}
	if got := s.Main[1].ImportPath; got != "example.com/m/cmd/a" {
		t.Errorf("import path %q", got)
	}
	if got := s.Main[0].ImportPath; got != "example.com/m" {
		t.Errorf("root import path %q", got)
	}
}

// TestMainPackagesSkipped: folders of package main files the go command
// would refuse are named with the reason, not offered.
func TestMainPackagesSkipped(t *testing.T) {
	root := tree(t, `
-- go.mod --
module example.com/m
-- mixed/a.go --
package main
-- mixed/b.go --
package lib
-- broken/a.go --
package main(
-- my tool/main.go --
package main
-- bad"quote/main.go --
package main
-- ok/main.go --
package main
`)
	s := scan(t, root, Limits{})
	if diff := cmp.Diff([]string{"./ok"}, rels(s.Main)); diff != "" {
		t.Errorf("main packages (-want +got):\n%s", diff)
	}
	reasons := map[string]string{}
	for _, k := range s.Skipped {
		reasons[k.Dir] = k.Reason
	}
	for dir, want := range map[string]string{
		"./mixed":      "several packages (main, lib)",
		"./broken":     "a file cannot be read: a.go:",
		"./my tool":    "refuses its import path: invalid char ' '",
		"./bad\"quote": "refuses its import path: invalid char '\"'",
	} {
		if !strings.Contains(reasons[dir], want) {
			t.Errorf("skipped %s: reason %q, want it to contain %q", dir, reasons[dir], want)
		}
	}
	if len(s.Skipped) != 4 {
		t.Errorf("skipped %v, want 4", s.Skipped)
	}
}

// TestMainPackagesHeader: only the head of a file is read; a package
// clause past it is a reason, a long cgo preamble is not.
func TestMainPackagesHeader(t *testing.T) {
	long := "// " + strings.Repeat("x", 200) + "\n"
	root := tree(t, `
-- go.mod --
module example.com/m
-- late/main.go --
`+long+`package main
-- cgo/main.go --
package main

/*
`+strings.Repeat("int x;\n", 100)+`*/
import "C"
`)
	s := scan(t, root, Limits{Header: 100})
	if len(s.Main) != 1 || s.Main[0].Dir != "cgo" {
		t.Errorf("main packages %v, want ./cgo (a truncated cgo preamble is read as a plain file)", rels(s.Main))
	}
	if len(s.Skipped) != 1 || s.Skipped[0].Dir != "./late" {
		t.Errorf("skipped %v, want ./late", s.Skipped)
	}
}

// TestMainPackagesLimits: a module over a limit is refused, naming it.
func TestMainPackagesLimits(t *testing.T) {
	root := tree(t, `
-- go.mod --
module example.com/m
-- a/main.go --
package main
-- b/main.go --
package main
`)
	m, err := FindModule(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lim  Limits
		want string
	}{
		{Limits{Dirs: 2}, "more than 2 folders"},
		{Limits{Files: 1}, "more than 1 Go files"},
	} {
		_, err := MainPackages(m, c.lim)
		var le *LimitError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("limits %+v: error %v, want a LimitError saying %q", c.lim, err, c.want)
		}
	}
	if _, err := MainPackages(m, Limits{Dirs: 3, Files: 2}); err != nil {
		t.Errorf("exactly at the limits: %v", err)
	}
}

// TestMainPackagesSpecialFiles: a FIFO named like a Go file is not read
// (reading it would block), a symbolic link to a folder is not followed,
// and a link to a file is read, as the go command does.
func TestMainPackagesSpecialFiles(t *testing.T) {
	root := tree(t, `
-- go.mod --
module example.com/m
-- real/main.go --
package main
-- lib/lib.go --
package lib
`)
	if err := syscall.Mkfifo(filepath.Join(root, "lib", "fifo.go"), 0o644); err != nil {
		t.Skip("no FIFO here:", err)
	}
	if err := os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "viafile"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "real", "main.go"), filepath.Join(root, "viafile", "main.go")); err != nil {
		t.Fatal(err)
	}
	s := scan(t, root, Limits{})
	if diff := cmp.Diff([]string{"./real", "./viafile"}, rels(s.Main)); diff != "" {
		t.Errorf("main packages (-want +got):\n%s", diff)
	}
}

// TestMainPackagesUnreadable: a folder that cannot be read is named and
// the walk goes on.
func TestMainPackagesUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every folder")
	}
	root := tree(t, `
-- go.mod --
module example.com/m
-- ok/main.go --
package main
-- secret/main.go --
package main
`)
	sec := filepath.Join(root, "secret")
	if err := os.Chmod(sec, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(sec, 0o755) })
	s := scan(t, root, Limits{})
	if len(s.Main) != 1 || len(s.Skipped) != 1 || !strings.Contains(s.Skipped[0].Reason, "cannot read it") {
		t.Errorf("main %v, skipped %v", rels(s.Main), s.Skipped)
	}
}

func TestChoose(t *testing.T) {
	root := tree(t, `
-- go.mod --
module example.com/m
-- main.go --
package main
-- cmd/a/main.go --
package main
-- cmd/b/main.go --
package main
-- lib/lib.go --
package lib
-- mixed/a.go --
package main
-- mixed/b.go --
package lib
`)
	s := scan(t, root, Limits{})
	for want, dir := range map[string]string{
		"./cmd/a":             "cmd/a",
		"./cmd/a/":            "cmd/a",
		"./cmd/../cmd/b":      "cmd/b",
		"example.com/m/cmd/b": "cmd/b",
		"example.com/m":       ".",
		".":                   ".",
		"./":                  ".",
	} {
		p, err := s.Choose(want)
		if err != nil || p.Dir != dir {
			t.Errorf("Choose(%q) = %+v, %v; want folder %s", want, p, err, dir)
		}
	}
	for want, msg := range map[string]string{
		"":                  "has 3 main packages; pick one with --package:\n\t./\n\t./cmd/a\n\t./cmd/b",
		"cmd/a":             "name the package relative to the module root, as ./cmd/x",
		"./lib":             "is not a main package of module example.com/m; its main packages:\n\t./\n\t./cmd/a",
		"./nosuch":          "is not a main package",
		"../elsewhere":      "name the package relative to the module root",
		"./../elsewhere":    "is outside the module",
		"example.com/other": "by its import path in module example.com/m",
		"./mixed":           "not a main package the go command builds: its files are of several packages",
		"./x\ny":            `--package "./x\ny" is not`,
	} {
		if _, err := s.Choose(want); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Choose(%q): error %v, want it to contain %q", want, err, msg)
		}
	}
}

func TestChooseNone(t *testing.T) {
	root := tree(t, `
-- go.mod --
module example.com/m
-- lib/lib.go --
package lib
-- my tool/main.go --
package main
`)
	s := scan(t, root, Limits{})
	_, err := s.Choose("")
	if err == nil || !strings.Contains(err.Error(), "has no main package") || !strings.Contains(err.Error(), "\nskipped:\n\t./my tool: the go command refuses") {
		t.Errorf("error %v", err)
	}
	one := tree(t, "-- go.mod --\nmodule example.com/one\n-- cmd/x/main.go --\n"+mainGo)
	p, err := scan(t, one, Limits{}).Choose("")
	if err != nil || p.Rel() != "./cmd/x" {
		t.Errorf("the only main package: %+v, %v", p, err)
	}
}
