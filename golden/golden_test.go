// Package golden holds the compiler's expected outputs: one folder per
// example spec with the artifacts it must produce, and under fail/ the
// specs that must be rejected with their expected error text. Run with
// LIGHTHOUSE_UPDATE=1 to rewrite the expectations; a missing one fails.
package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cueerrors "cuelang.org/go/cue/errors"
	"github.com/google/go-cmp/cmp"

	"github.com/lighthouse-project/lighthouse/gen/build"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

var update = os.Getenv("LIGHTHOUSE_UPDATE") == "1"

// goldenVersion is stamped into golden headers instead of the tool's
// version, so goldens do not change with releases.
const goldenVersion = "golden"

// compare checks got against the golden file, or rewrites it on update.
func compare(t *testing.T, path string, got []byte) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden %s (run with LIGHTHOUSE_UPDATE=1 to create it): %v", path, err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-golden +got):\n%s", path, d)
	}
}

// readTags reads <case>/tags.txt: one key=value per line.
func readTags(t *testing.T, dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "tags.txt"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestGolden builds every case folder (spec/ or, without one, the
// embedded bridge spec) and compares the four artifacts with out/.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(e.Name(), "out")); !e.IsDir() || err != nil {
			continue // fail/, audit/ and explain/ are not build cases
		}
		n++
		dir := e.Name()
		t.Run(dir, func(t *testing.T) {
			o := build.Options{Tags: readTags(t, dir), Out: filepath.Join(dir, "out"), Version: goldenVersion}
			if _, err := os.Stat(filepath.Join(dir, "spec")); err == nil {
				o.Spec = filepath.Join(dir, "spec")
			}
			_, files, err := build.Generate(o)
			if err != nil {
				t.Fatal(cueerrors.Details(err, nil))
			}
			_, again, err := build.Generate(o)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range files {
				if !bytes.Equal(f.Data, again[i].Data) {
					t.Errorf("%s: two builds of the same spec differ", f.Name)
				}
				compare(t, filepath.Join(o.Out, f.Name), f.Data)
			}
		})
	}
	if n < 2 {
		t.Fatalf("found %d golden cases, want the bridge and a second service at least", n)
	}
}

// TestFailingSpecs loads every fail/<case>/ spec: each must be rejected,
// nothing may be emitted, and the error text (with positions relative to
// this folder) must match errors.txt.
func TestFailingSpecs(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases, err := filepath.Glob(filepath.Join("fail", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("found %d failing specs, want at least 10", len(cases))
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out := t.TempDir()
			_, files, err := build.Generate(build.Options{Spec: dir, Tags: readTags(t, dir), Out: out, Version: goldenVersion})
			if err == nil {
				t.Fatalf("spec was accepted and emitted %d files", len(files))
			}
			got := spec.Details(err, wd)
			// Every position shown is in the author's spec (spec.cue or
			// another file of the case's folder): the schema's positions
			// are noise to them (DetailsVerbose shows those).
			specDir := "./" + filepath.ToSlash(dir) + "/"
			if !strings.Contains(got, "    "+specDir) {
				t.Errorf("no error points into the spec:\n%s", got)
			}
			for _, line := range strings.Split(got, "\n") {
				if strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "    "+specDir) {
					t.Errorf("position outside the spec: %q", line)
				}
			}
			compare(t, filepath.Join(dir, "errors.txt"), []byte(got))
		})
	}
}

// TestDeployIsCurrent is `lighthouse-gen build --check` as a test: the
// checked-in deploy/ must equal a fresh build of the embedded spec.
func TestDeployIsCurrent(t *testing.T) {
	_, files, err := build.Generate(build.Options{Out: filepath.Join("..", "deploy"), Version: "devel"})
	if err != nil {
		t.Fatal(cueerrors.Details(err, nil))
	}
	d, err := build.Diff(filepath.Join("..", "deploy"), files)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) > 0 {
		t.Errorf("deploy/ is stale; run make build:\n%s", d)
	}
}
