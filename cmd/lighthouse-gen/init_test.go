package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/initspec"
)

// explainRef finds the "lighthouse-gen explain FIELD" pointers in a
// starter spec's comments.
var explainRef = regexp.MustCompile(`(?m)^\s*// lighthouse-gen explain ([a-z][A-Za-z.]*)$`)

// TestInitExplainPointers: every field the starter's comments point
// explain at is one explain shows for that very spec, so the pointers
// stay true as the template and explain change.
func TestInitExplainPointers(t *testing.T) {
	data, err := initspec.Render(initspec.Values{Name: "notes", Description: "notes", Package: "./cmd/notes", Binary: "notes", Builder: "golang:1.22"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, initspec.FileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	refs := explainRef.FindAllSubmatch(data, -1)
	if len(refs) < 8 {
		t.Fatalf("found %d explain pointers in the starter, want one per section", len(refs))
	}
	for _, m := range refs {
		field := string(m[1])
		var out, errb bytes.Buffer
		root := newRootCmd()
		root.SetArgs([]string{"explain", field, "--spec", dir})
		root.SetOut(&out)
		root.SetErr(&errb)
		if err := root.Execute(); err != nil {
			t.Errorf("lighthouse-gen explain %s: %v %s", field, err, errb.String())
			continue
		}
		if !bytes.HasPrefix(out.Bytes(), []byte(field)) {
			t.Errorf("lighthouse-gen explain %s shows another field first:\n%s", field, out.String())
		}
	}
}
