package build

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/emit"
)

// TestEmitOptionsFindsModuleRoot places deploy/ in the Go module, which is
// the multi-stage build's context.
func TestEmitOptionsFindsModuleRoot(t *testing.T) {
	eo, err := EmitOptions(filepath.Join("..", "..", "deploy"), "v")
	if err != nil {
		t.Fatal(err)
	}
	if eo.ContextRoot != ".." || eo.ContextDir != "deploy" {
		t.Errorf("context = %q, %q; want .., deploy", eo.ContextRoot, eo.ContextDir)
	}
	eo, err = EmitOptions(filepath.Join("..", "..", "golden", "notes", "out"), "v")
	if err != nil {
		t.Fatal(err)
	}
	if eo.ContextRoot != "../../.." || eo.ContextDir != "golden/notes/out" {
		t.Errorf("context = %q, %q", eo.ContextRoot, eo.ContextDir)
	}
}

// TestContextOptions checks an explicit build context: the output folder
// is placed in it, one outside it or a context that is not a folder is an
// error (Docker cannot COPY from outside its context), and without one an
// output folder outside every module keeps its parent (gen/live builds
// such a folder).
func TestContextOptions(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ctx", "a", "deploy")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	eo, err := ContextOptions(out, filepath.Join(dir, "ctx"), "v")
	if err != nil {
		t.Fatal(err)
	}
	if eo.ContextRoot != "../.." || eo.ContextDir != "a/deploy" {
		t.Errorf("context = %q, %q; want ../.., a/deploy", eo.ContextRoot, eo.ContextDir)
	}
	if eo, err = ContextOptions(out, out, "v"); err != nil || eo.ContextRoot != "." || eo.ContextDir != "." {
		t.Errorf("context = out: %q, %q, %v", eo.ContextRoot, eo.ContextDir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ContextOptions(out, filepath.Join(dir, "other"), "v"); err == nil {
		t.Error("an output folder outside the context was accepted")
	}
	if _, err := ContextOptions(filepath.Join(dir, "ctxx"), filepath.Join(dir, "ctx"), "v"); err == nil {
		t.Error("a sibling folder sharing the context's name prefix was taken for inside it")
	}
	if _, err := ContextOptions(out, filepath.Join(dir, "missing"), "v"); err == nil {
		t.Error("a missing context was accepted")
	}
	if _, ok := ModuleRoot(dir); ok {
		t.Skip("the temporary folder is inside a Go module")
	}
	if eo, err = ContextOptions(out, "", "v"); err != nil || eo.ContextRoot != ".." || eo.ContextDir != "deploy" {
		t.Errorf("default outside a module: %q, %q, %v", eo.ContextRoot, eo.ContextDir, err)
	}
}

// TestWriteReplacesAndDiffs writes, diffs clean, then detects drift.
func TestWriteReplacesAndDiffs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "deploy")
	_, files, err := Generate(Options{Out: out, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(emit.Names) {
		t.Fatalf("%d files, want %d", len(files), len(emit.Names))
	}
	if err := Write(out, files); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(out, emit.Script))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("start.sh mode = %v, %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != len(emit.Names) {
		t.Errorf("output holds %d entries (staging left behind?)", len(entries))
	}
	if d, err := Diff(out, files); err != nil || len(d) != 0 {
		t.Errorf("fresh output differs: %s %v", d, err)
	}
	if err := os.WriteFile(filepath.Join(out, emit.Dockerfile), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, _ := Diff(out, files); len(d) == 0 {
		t.Error("an edited Dockerfile is not reported")
	}
}
