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
