package spec

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

// withoutExplicitOpen is the bridge spec's bridge.cue without its
// @experiment(explicitopen) line.
func withoutExplicitOpen(t *testing.T, b []byte) []byte {
	t.Helper()
	var out [][]byte
	found := false
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("@experiment(explicitopen)")) {
			found = true
			continue
		}
		out = append(out, l)
	}
	if !found {
		t.Fatal("bridge.cue has no @experiment(explicitopen) line")
	}
	return bytes.Join(out, nil)
}

// openFields are fields #Service does not allow, at the top level and
// below it, as a careless edit leaves them.
var openFields = []string{
	"portz: api: number: 1",
	"health: retrys: 5",
	"security: privilegedReason: \"left over from when it was privileged\"",
	"volumes: tmp: sise: \"1Gi\"",
}

// TestExplicitOpenClosesEmbedding checks why the bridge spec carries
// @experiment(explicitopen): with it, the package that embeds #Service
// rejects every field #Service does not declare by itself (as `cue vet`
// evaluates it); without it, CUE accepts them all.
func TestExplicitOpenClosesEmbedding(t *testing.T) {
	for _, f := range openFields {
		_, _, _, sv, _ := embeddedWith(t, func(b []byte) []byte {
			return append(bytes.Clone(b), "\n"+f+"\n"...)
		})
		if err := sv.Validate(cue.Concrete(true)); err == nil {
			t.Errorf("with explicitopen, the spec accepts %q", f)
		}
		_, _, _, sv, _ = embeddedWith(t, func(b []byte) []byte {
			return append(withoutExplicitOpen(t, b), "\n"+f+"\n"...)
		})
		if err := sv.Validate(cue.Concrete(true)); err != nil {
			t.Errorf("without explicitopen, the spec rejects %q (%v): the test no longer shows why the experiment is needed", f, err)
		}
	}
}

// TestLoadRefusesOpenEmbedding checks that a spec package in the cue/
// module that embeds #Service without @experiment(explicitopen) is
// refused, at the embedding, with what to add: `cue vet` would accept its
// misspelt fields.
func TestLoadRefusesOpenEmbedding(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, cuemod.FS); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, cuemod.BridgeDir, "bridge.cue")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{Dir: filepath.Join(root, cuemod.BridgeDir)}); err != nil {
		t.Fatalf("a copy of the bridge spec: %v", Details(err, root))
	}
	if err := os.WriteFile(file, withoutExplicitOpen(t, b), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(Options{Dir: filepath.Join(root, cuemod.BridgeDir)})
	if err == nil {
		t.Fatal("a spec embedding #Service without explicitopen was accepted")
	}
	got := Details(err, root)
	want := "this spec imports the schema, so each of its files carries @experiment(explicitopen)"
	if !strings.Contains(got, want) || !strings.Contains(got, "./bridge/bridge.cue:") {
		t.Errorf("got:\n%s\nwant %q at ./bridge/bridge.cue", got, want)
	}
}

// TestLoadRefusesAnyOpenFile: every file of a spec package that imports
// the schema needs the experiment, whichever embeds #Service and however
// (a second file that embeds `schema.#Service & {}`, here).
func TestLoadRefusesAnyOpenFile(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, cuemod.FS); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(root, cuemod.BridgeDir, "extra.cue")
	src := "package bridge\n\nimport \"" + SchemaImport + "\"\n\nschema.#Service & {}\n"
	if err := os.WriteFile(extra, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{Dir: filepath.Join(root, cuemod.BridgeDir)})
	if err == nil {
		t.Fatal("a spec file without explicitopen was accepted")
	}
	got := Details(err, root)
	if !strings.Contains(got, "@experiment(explicitopen)") || !strings.Contains(got, "./bridge/extra.cue:1:1") || strings.Contains(got, "./bridge/bridge.cue") {
		t.Errorf("got:\n%s\nwant the experiment asked of ./bridge/extra.cue only", got)
	}
	if err := os.WriteFile(extra, []byte("@experiment(explicitopen)\n\n"+src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{Dir: filepath.Join(root, cuemod.BridgeDir)}); err != nil {
		t.Errorf("with the experiment: %s", Details(err, root))
	}
}
