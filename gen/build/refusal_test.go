package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// TestRefusalsPointIntoTheSpec: a string an emitter refuses (the schema
// let it through, or the model was built by other means) fails the build
// as a CUE error at the field's position in the spec, like the schema's
// own errors, and with the artifact that refused it.
func TestRefusalsPointIntoTheSpec(t *testing.T) {
	dir := filepath.Join("..", "..", "golden", "notes", "spec")
	s, err := spec.Load(spec.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Description = "notes\nRUN id"
	s.Entry.Args[0] = "--x\u202e"
	_, err = Emit(s, emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"})
	if _, ok := err.(cueerrors.Error); !ok {
		t.Fatalf("Emit returned %T %v, want a CUE error list", err, err)
	}
	wd, _ := os.Getwd()
	got := spec.Details(err, wd)
	for _, want := range []string{
		"description: \"notes\\nRUN id\" cannot be written into a Dockerfile comment (Dockerfile): character U+000A",
		"../../golden/notes/spec/notes.cue:10:14",
		"entry.args.0: \"--x\\u202e\" cannot be written into a POSIX shell word (start.sh): character U+202E",
		"../../golden/notes/spec/notes.cue:15:9",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("refusals do not say %q:\n%s", want, got)
		}
	}
}

// TestRefusesAContextPathItCannotWrite: the output folder's path in the
// build context is no spec field, yet it lands in the Dockerfile's COPY
// and in compose's build: one it cannot carry fails the build, named.
func TestRefusesAContextPathItCannotWrite(t *testing.T) {
	s, err := spec.Load(spec.Options{Dir: filepath.Join("..", "..", "golden", "notes", "spec")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Emit(s, emit.Options{Version: "test", ContextRoot: "..", ContextDir: "my deploy\nRUN id"})
	if err == nil || !strings.Contains(err.Error(), "the output folder's path in the build context (--out)") {
		t.Fatalf("a context path with a line break was written: %v", err)
	}
}
