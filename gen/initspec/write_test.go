package initspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// onlyFiles fails if dir holds anything but names (no staged file left).
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestWrite(t *testing.T) {
	base := t.TempDir()
	p, err := Write(base, "deploy/x", []byte("one"), false)
	if err != nil || p != filepath.Join("deploy", "x", FileName) {
		t.Fatalf("Write = %q, %v", p, err)
	}
	full := filepath.Join(base, "deploy", "x", FileName)
	if readFile(t, full) != "one" {
		t.Error("content")
	}
	if fi, _ := os.Stat(full); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}

	// An existing spec is kept without force, named with the way out.
	_, err = Write(base, "deploy/x", []byte("two"), false)
	var ee *ExistsError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "deploy/x/service.cue exists; init does not overwrite a spec (--force replaces it)") {
		t.Errorf("second Write: %v", err)
	}
	if readFile(t, full) != "one" {
		t.Error("overwritten without force")
	}
	// With force it is replaced.
	if _, err := Write(base, "deploy/x", []byte("three"), true); err != nil || readFile(t, full) != "three" {
		t.Errorf("Write with force: %v", err)
	}
	onlyFiles(t, filepath.Join(base, "deploy", "x"), FileName)

	// An absolute folder is taken as it is.
	abs := filepath.Join(t.TempDir(), "abs")
	if p, err := Write(base, abs, []byte("a"), false); err != nil || p != filepath.Join(abs, FileName) {
		t.Errorf("absolute: %q, %v", p, err)
	}
}

func TestWriteRefuses(t *testing.T) {
	base := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(base, "file"), nil, 0o644))
	must(os.MkdirAll(filepath.Join(base, "pkg"), 0o755))
	must(os.WriteFile(filepath.Join(base, "pkg", "other.cue"), []byte("package other\n"), 0o644))
	must(os.MkdirAll(filepath.Join(base, "dirspec", FileName), 0o755))
	must(os.MkdirAll(filepath.Join(base, "dangling"), 0o755))
	must(os.Symlink("nowhere", filepath.Join(base, "dangling", FileName)))
	for _, c := range []struct {
		dir   string
		force bool
		want  string
	}{
		{"file", false, "file is a file; init writes the spec into a folder"},
		{"pkg", true, "pkg already holds CUE files (other.cue), which would join the starter's package"},
		{"dirspec", true, "is a folder; --force replaces a spec file, not a folder"},
		{"dangling", false, "exists; init does not overwrite"},
	} {
		if _, err := Write(base, c.dir, []byte("x"), c.force); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Write(%s, force %v): %v, want %q", c.dir, c.force, err, c.want)
		}
	}
	onlyFiles(t, filepath.Join(base, "pkg"), "other.cue")
	if _, err := os.Lstat(filepath.Join(base, "nowhere")); err == nil {
		t.Error("wrote through a dangling symbolic link")
	}
}

// TestInit runs the whole of init on a module: the written spec is the
// rendered starter for the module's only main package, in deploy/NAME.
func TestInit(t *testing.T) {
	root := tree(t, `
-- go.mod --
module example.com/shop/v3

go 1.22
-- cmd/My_Tool.v2/main.go --
package main

func main() {}
`)
	wd := filepath.Join(root, "cmd")
	r, err := Init(Options{WorkDir: wd})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Path: filepath.Join(root, "deploy", "my-tool-v2", FileName), Dir: filepath.Join(root, "deploy", "my-tool-v2"), InModule: true, Name: "my-tool-v2", Exec: "My_Tool.v2"}
	if r.Path != want.Path || r.Dir != want.Dir || !r.InModule || r.Name != want.Name || r.Exec != want.Exec || r.Package.Rel() != "./cmd/My_Tool.v2" {
		t.Errorf("result %+v", r)
	}
	v := Values{Name: "my-tool-v2", Description: "my-tool-v2, the Go program example.com/shop/v3/cmd/My_Tool.v2", Package: "./cmd/My_Tool.v2", Binary: "my-tool-v2", Builder: "golang:1.22"}
	evaluate(t, []byte(readFile(t, r.Path)), v)

	// From the module root the default folder is relative; a second run
	// keeps the file.
	if _, err := Init(Options{WorkDir: root}); err == nil || !strings.Contains(err.Error(), filepath.Join("deploy", "my-tool-v2", FileName)+" exists") {
		t.Errorf("second init: %v", err)
	}
	r, err = Init(Options{WorkDir: root, Dir: "spec", Name: "tool"})
	if err != nil || r.Path != filepath.Join("spec", FileName) || r.Name != "tool" {
		t.Errorf("init spec --name tool: %+v, %v", r, err)
	}
	if _, err := Init(Options{WorkDir: root, Dir: "x", Name: "Tool"}); err == nil || !strings.Contains(err.Error(), "--name Tool is not a service name") {
		t.Errorf("a bad --name: %v", err)
	}
	outside := t.TempDir()
	if r, err := Init(Options{WorkDir: root, Dir: outside}); err != nil || r.InModule {
		t.Errorf("a folder outside the module: %+v, %v", r, err)
	}
	if _, err := Init(Options{WorkDir: "relative"}); err == nil {
		t.Error("a relative WorkDir was taken")
	}
}
