package golden

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cuelang.org/go/cue/parser"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
	"github.com/lighthouse-project/lighthouse/gen/build"
)

// cueCannot lists the fail/ cases that `go tool cue vet -c` accepts, each
// with the rule it cannot express; lighthouse-gen vet still rejects them.
// A case listed here that cue vet rejects fails the test: the entry is
// stale and must go.
var cueCannot = map[string]string{
	"file-without-package":    "CUE leaves a file without a package clause out of the package silently; only lighthouse-gen's loader (gen/spec/files.go) reads every .cue file of the folder and refuses it",
	"not-utf8":                "CUE reads a byte that is not UTF-8 inside a string as it is; only lighthouse-gen's loader (gen/spec/files.go) refuses a file that is not UTF-8 text",
	"restart-not-expressible": "which artifact can express a field is the emitters' knowledge (gen/explain), not the schema's",
	"stale-omit":              "whether an omit leaves out anything depends on which artifact can express the field: the emitters' knowledge (gen/explain), not the schema's",
}

// TestCueVetAgrees runs lighthouse-gen vet and `go tool cue vet -c` on every
// fail/ case: both must reject it, but for the cases cueCannot names. cue
// vet sees each case as a spec package of the cue/ module would be written:
// its files beside one that embeds schema.#Service under
// @experiment(explicitopen), in a copy of the embedded CUE module.
func TestCueVetAgrees(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("fail", "*"))
	if err != nil {
		t.Fatal(err)
	}
	cue := cueTool(t)
	mod := t.TempDir()
	if err := os.CopyFS(mod, cuemod.FS); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, dir := range cases {
		name := filepath.Base(dir)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			tags := readTags(t, dir)
			o := build.Options{Spec: dir, Tags: tags, Out: t.TempDir(), Version: goldenVersion, Shellcheck: true}
			if _, _, err := build.Generate(o); err == nil {
				t.Errorf("lighthouse-gen vet accepts %s", dir)
			}
			pkg := copySpec(t, dir, filepath.Join(mod, name))
			args := []string{"vet", "-c"}
			for _, tag := range tags {
				args = append(args, "-t", tag)
			}
			cmd := exec.Command(cue, append(args, "./"+name)...)
			cmd.Dir = mod
			out, err := cmd.CombinedOutput()
			why, excused := cueCannot[name]
			switch {
			case err == nil && !excused:
				t.Errorf("cue vet -c accepts %s (package %s); lighthouse-gen vet rejects it", dir, pkg)
			case err != nil && excused:
				t.Errorf("cue vet -c rejects %s now; remove it from cueCannot (%q):\n%s", dir, why, out)
			case err != nil:
				if _, ok := err.(*exec.ExitError); !ok {
					t.Fatalf("cue vet: %v", err)
				}
			}
		})
	}
	// And a spec that builds passes cue vet too: the two agree both ways.
	t.Run("notes-builds", func(t *testing.T) {
		copySpec(t, filepath.Join("notes", "spec"), filepath.Join(mod, "notes-builds"))
		cmd := exec.Command(cue, "vet", "-c", "./notes-builds")
		cmd.Dir = mod
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cue vet -c rejects golden/notes/spec, which builds: %v\n%s", err, out)
		}
	})
	for name := range cueCannot {
		if !seen[name] {
			t.Errorf("cueCannot names %s, which is no fail/ case", name)
		}
	}
}

// cueTool returns the path of the cue command `go tool cue` runs: the
// version go.mod pins, built once into Go's cache.
func cueTool(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "tool", "-n", "cue")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool -n cue: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// copySpec copies the .cue files of the spec folder src into dst and adds
// the file that embeds #Service there; it returns the package name.
func copySpec(t *testing.T, src, dst string) string {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	pkg := ""
	var names []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && p != src {
			if err == nil {
				return filepath.SkipDir
			}
			return err
		}
		// Only regular files: a FIFO or device named *.cue (a case of
		// its own for the loader) would block a read.
		if d.Type().IsRegular() && strings.HasSuffix(p, ".cue") {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if f, err := parser.ParseFile(p, b, parser.PackageClauseOnly); err == nil && f.PackageName() != "" {
			pkg = f.PackageName()
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if pkg == "" {
		pkg = "fail"
	}
	var w bytes.Buffer
	w.WriteString("@experiment(explicitopen)\n\npackage " + pkg + "\n\n")
	w.WriteString("import \"github.com/lighthouse-project/lighthouse/schema\"\n\nschema.#Service\n")
	if err := os.WriteFile(filepath.Join(dst, "zz_service.cue"), w.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return pkg
}
