// Package build is the compiler's pipeline: load a spec, run the four
// emitters, and either write the artifacts atomically or compare them with
// what is on disk. A spec that fails writes nothing.
package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
	"github.com/rogpeppe/go-internal/diff"

	"github.com/lighthouse-project/lighthouse/gen/audit"
	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/compose"
	"github.com/lighthouse-project/lighthouse/gen/emit/dockerfile"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/emit/kube"
	"github.com/lighthouse-project/lighthouse/gen/emit/script"
	"github.com/lighthouse-project/lighthouse/gen/explain"
	"github.com/lighthouse-project/lighthouse/gen/regular"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Options select the spec and say where the artifacts go.
type Options struct {
	// Spec is the spec folder; empty means the embedded bridge spec.
	Spec string
	// Tags are CUE tags, "key=value".
	Tags []string
	// Out is the output folder.
	Out string
	// Context is the Docker build context, a folder holding Out: the
	// Dockerfile's COPY and compose's build.context name paths in it.
	// Empty means the Go module root holding Out (ModuleRoot) or, outside
	// any module, Out's parent, for callers such as gen/live that build a
	// context folder around Out; the CLI always sets it.
	Context string
	// Version is the lighthouse-gen version stamped into headers.
	Version string
	// Shellcheck also lints the emitted start script with shellcheck
	// (vet does; build does not, so it needs no tool besides itself).
	Shellcheck bool
}

// FindingsError is what Generate returns when the artifacts as emitted,
// parsed back by their consumers' parsers, disagree with each other or
// with the spec. Nothing is written then.
type FindingsError struct {
	Findings []check.Finding
}

func (e *FindingsError) Error() string {
	var b strings.Builder
	for i, f := range e.Findings {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// File is one generated artifact.
type File struct {
	Name string
	Mode fs.FileMode
	Data []byte
}

// Emitter is the signature every artifact emitter has: a pure function
// from the model to bytes.
type Emitter func(*spec.Service, emit.Options) ([]byte, error)

// Emitters maps each artifact file name to its emitter.
var Emitters = map[string]Emitter{
	emit.Dockerfile: dockerfile.Emit,
	emit.Script:     script.Emit,
	emit.Compose:    compose.Emit,
	emit.Kubernetes: kube.Emit,
}

// Generate loads the spec, emits every artifact in memory in the fixed
// order of emit.Names, and checks them as emitted (Verify). Errors from the
// spec are CUE error lists; failed checks are a *FindingsError.
func Generate(o Options) (*spec.Service, []File, error) {
	go check.WarmCompose() // overlaps the compose schema's compilation with the CUE load
	s, files, err := Compile(o)
	if err != nil {
		return nil, nil, err
	}
	if err := Verify(context.Background(), s, files, o); err != nil {
		return nil, nil, err
	}
	return s, files, nil
}

// Verify parses the emitted files back with their consumers' parsers and
// holds them against each other (gen/check) and against the spec
// (gen/audit). Spec positions in findings are relative to the working
// directory.
func Verify(ctx context.Context, s *spec.Service, files []File, o Options) error {
	m := make(map[string][]byte, len(files))
	for _, f := range files {
		m[f.Name] = f.Data
	}
	wd, _ := os.Getwd()
	fs, err := audit.Files(ctx, s, m, audit.Options{Check: check.Options{Dir: o.Out, Shellcheck: o.Shellcheck}, Cwd: wd, Expected: m})
	if err != nil {
		return err
	}
	if len(fs) > 0 {
		return &FindingsError{Findings: fs}
	}
	return nil
}

// Compile loads the spec and emits every artifact in memory, unchecked;
// Generate is Compile followed by Verify.
func Compile(o Options) (*spec.Service, []File, error) {
	s, err := spec.Load(spec.Options{Dir: o.Spec, Tags: o.Tags})
	if err != nil {
		return nil, nil, err
	}
	// A field a target cannot express fails the build unless the spec's
	// omit says how that target handles it: nothing is dropped silently.
	if err := explain.Unhandled(s); err != nil {
		return nil, nil, err
	}
	// An omit that leaves out nothing is refused too: its reason would
	// explain a gap that does not exist.
	if err := explain.Stale(s); err != nil {
		return nil, nil, err
	}
	eo, err := ContextOptions(o.Out, o.Context, o.Version)
	if err != nil {
		return nil, nil, err
	}
	files, err := Emit(s, eo)
	return s, files, err
}

// Emit runs every emitter on a loaded spec. Emitters are pure functions of
// the model, so they run side by side, the slowest (Kubernetes: typed
// objects through JSON to YAML) on the calling goroutine; the files come
// back in the order of emit.Names, and the first error in that order is
// the one returned.
func Emit(s *spec.Service, eo emit.Options) ([]File, error) {
	files := make([]File, len(emit.Names))
	errs := make([]error, len(emit.Names))
	one := func(i int, name string) {
		data, err := Emitters[name](s, eo)
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", name, err)
			return
		}
		mode := fs.FileMode(0o644)
		if name == emit.Script {
			mode = 0o755
		}
		files[i] = File{Name: name, Mode: mode, Data: data}
	}
	var wg sync.WaitGroup
	slowest := slices.Index(emit.Names, emit.Kubernetes)
	for i, name := range emit.Names {
		if i != slowest {
			wg.Go(func() { one(i, name) })
		}
	}
	if slowest >= 0 {
		one(slowest, emit.Kubernetes)
	}
	wg.Wait()
	if err := refusals(s, errs); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// refusals turns the strings the emitters refused (encode.Errors, errs in
// the order of emit.Names) into one CUE error list, each at the spec
// position of its field, so they read like the schema's errors; nil when
// no emitter refused a string.
func refusals(s *spec.Service, errs []error) error {
	var all cueerrors.Error
	for i, err := range errs {
		es, ok := encode.AsErrors(err)
		if !ok {
			continue
		}
		for _, e := range es {
			r := &refusal{msg: emit.Names[i] + ": " + e.Error()}
			if e.Field != "" {
				r.pos = s.Pos(e.Field)
				for _, sel := range cue.ParsePath(e.Field).Selectors() {
					r.path = append(r.path, sel.String())
				}
				r.msg = fmt.Sprintf("%s cannot be written into %s (%s): %s", encode.Show(e.Value), e.Context, emit.Names[i], e.Reason)
			}
			all = cueerrors.Append(all, r)
		}
	}
	if all == nil {
		return nil
	}
	return all
}

// refusal is a string an emitter refused, as a CUE error at the spec
// position of its field (none for a string that is no spec field).
type refusal struct {
	pos  token.Pos
	path []string
	msg  string
}

func (r *refusal) Position() token.Pos         { return r.pos }
func (r *refusal) InputPositions() []token.Pos { return nil }
func (r *refusal) Path() []string              { return r.path }
func (r *refusal) Msg() (string, []any)        { return "%s", []any{r.msg} }
func (r *refusal) Error() string {
	if len(r.path) == 0 {
		return r.msg
	}
	return strings.Join(r.path, ".") + ": " + r.msg
}

// EmitOptions places the output folder in the Docker build context: the
// nearest folder above it holding go.mod (the Go module the multi-stage
// build compiles), or, without one, its parent.
func EmitOptions(out, version string) (emit.Options, error) {
	return ContextOptions(out, "", version)
}

// ContextOptions places the output folder in the Docker build context
// context (see Options.Context for an empty one). An output folder
// outside the context is an error: Docker cannot COPY from outside it.
func ContextOptions(out, context, version string) (emit.Options, error) {
	eo := emit.Options{Version: version}
	abs, err := filepath.Abs(out)
	if err != nil {
		return eo, err
	}
	if context == "" {
		var ok bool
		if context, ok = ModuleRoot(abs); !ok {
			context = filepath.Dir(abs)
		}
	} else if fi, err := os.Stat(context); errors.Is(err, fs.ErrNotExist) {
		return eo, fmt.Errorf("build context %s does not exist; --context names the folder Docker builds from, which holds the output folder: create it or name another", context)
	} else if err != nil {
		return eo, fmt.Errorf("build context: %w", err)
	} else if !fi.IsDir() {
		return eo, fmt.Errorf("build context %s is not a folder; --context names the folder Docker builds from, which holds the output folder", context)
	}
	ctx, err := filepath.Abs(context)
	if err != nil {
		return eo, err
	}
	rel, err := filepath.Rel(ctx, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return eo, fmt.Errorf("output folder %s is outside the build context %s: Docker cannot COPY the start script from outside its context; pass --context a folder that holds both (and what the Dockerfile copies), or --out a folder inside %s", out, context, context)
	}
	root, err := filepath.Rel(abs, ctx)
	if err != nil {
		return eo, err
	}
	eo.ContextRoot, eo.ContextDir = filepath.ToSlash(root), filepath.ToSlash(rel)
	return eo, nil
}

// ModuleRoot is the nearest folder at or above dir holding go.mod, the
// default build context: the Go module the multi-stage build compiles.
func ModuleRoot(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, true
		}
		if d == filepath.Dir(d) {
			return "", false
		}
	}
}

// Write stores files in out atomically: each is staged in a temporary
// folder next to out and renamed into place, so a reader never sees a
// partial file.
func Write(out string, files []File) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(out, ".lighthouse-gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, f := range files {
		p := filepath.Join(stage, f.Name)
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil { // umask must not narrow the mode
			return err
		}
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(stage, f.Name), filepath.Join(out, f.Name)); err != nil {
			return err
		}
	}
	return nil
}

// Diff returns a unified diff from the files in out to files; empty when
// out is current. A missing file counts as empty.
func Diff(out string, files []File) ([]byte, error) {
	var all bytes.Buffer
	for _, f := range files {
		p := filepath.Join(out, f.Name)
		old, err := regular.ReadFile(p, regular.MaxArtifactBytes)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if bytes.Equal(old, f.Data) {
			continue
		}
		all.Write(diff.Diff(filepath.ToSlash(p), old, filepath.ToSlash(p)+" (generated)", f.Data))
	}
	return all.Bytes(), nil
}

// Drift says why a file in the output folder differs from a fresh build,
// using its generated header: "missing", "not generated: ..." (no header),
// "hand-edited: ..." (its body no longer matches its recorded digest),
// "stale: ..." (generated from another spec) or, for the same spec, what
// else differs (see generatorDrift). Current files are not listed.
func Drift(out string, files []File, specDigest string) (map[string]string, error) {
	drift := map[string]string{}
	for _, f := range files {
		old, err := regular.ReadFile(filepath.Join(out, f.Name), regular.MaxArtifactBytes)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			drift[f.Name] = "missing"
			continue
		case err != nil:
			return nil, err
		case bytes.Equal(old, f.Data):
			continue
		}
		switch st := check.FreshnessOf(old, "sha256:"+specDigest); st {
		case check.NoHeader:
			drift[f.Name] = "not generated: it has no lighthouse-gen header"
		case check.Fresh:
			drift[f.Name] = generatorDrift(old, f.Data)
		default:
			drift[f.Name] = st.String()
		}
	}
	return drift, nil
}

// generatorDrift says why a file generated from the current spec differs
// from a fresh build: another lighthouse-gen version wrote it, or, with
// the same version, it was generated for another output folder or build
// context (named in COPY and compose's build), which only the body shows.
func generatorDrift(old, fresh []byte) string {
	oh, _, _, err1 := emit.ParseHeader(old)
	nh, _, _, err2 := emit.ParseHeader(fresh)
	if err1 == nil && err2 == nil && oh.Version != nh.Version {
		return fmt.Sprintf("stale generator: same spec, but lighthouse-gen %s wrote it and this is %s", oh.Version, nh.Version)
	}
	return "same spec and lighthouse-gen version, but generated for another output folder or build context: the body differs from what this build writes"
}
