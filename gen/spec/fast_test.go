package spec

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

const schemaImport = "github.com/lighthouse-project/lighthouse/schema"

// embeddedWith builds the embedded schema and bridge spec, the spec's
// bridge.cue passed through edit first.
func embeddedWith(t *testing.T, edit func([]byte) []byte) (spec, schemaInst *build.Instance, schema, sv cue.Value, dir string) {
	t.Helper()
	ov, err := embeddedOverlay()
	if err != nil {
		t.Fatal(err)
	}
	file := path.Join(EmbeddedRoot, cuemod.BridgeDir, "bridge.cue")
	b, err := cuemod.FS.ReadFile(path.Join(cuemod.BridgeDir, "bridge.cue"))
	if err != nil {
		t.Fatal(err)
	}
	ov[file] = load.FromBytes(edit(b))
	cfg := &load.Config{Dir: EmbeddedRoot, ModuleRoot: EmbeddedRoot, Overlay: ov}
	insts, vals, err := buildInstances(cuecontext.New(), cfg, "./"+cuemod.SchemaDir, "./"+cuemod.BridgeDir)
	if err != nil {
		t.Fatal(err)
	}
	return insts[1], insts[0], vals[0], vals[1], path.Dir(file)
}

// TestFastPathEqualsFullPath checks that the embedded spec takes Load's
// fast path (no second unification with #Service) and that it yields the
// very model, digest and field positions the full unification yields.
func TestFastPathEqualsFullPath(t *testing.T) {
	inst, schemaInst, schema, sv, dir := embeddedWith(t, func(b []byte) []byte { return b })
	if !embedsService(inst, schemaInst) {
		t.Fatal("the embedded bridge spec is not recognised as embedding #Service")
	}
	fast := loadInstance(sv, schema, dir)
	if fast == nil {
		t.Fatal("the fast path refused the embedded bridge spec")
	}
	if s, err := Load(Options{}); err != nil || s.unified == nil {
		t.Fatalf("Load of the embedded spec did not take the fast path (error %v)", err)
	}
	v := schema.LookupPath(cue.ParsePath("#Service")).Unify(sv)
	if err := v.Validate(cue.Concrete(true)); err != nil {
		t.Fatal(err)
	}
	full, derr := decode(v, dir, false)
	if derr != nil {
		t.Fatal(derr)
	}
	posText := cmp.Comparer(func(a, b token.Pos) bool { return a.String() == b.String() })
	if d := cmp.Diff(full, fast, cmpopts.IgnoreUnexported(Service{}), posText); d != "" {
		t.Errorf("fast path model (-full +fast):\n%s", d)
	}
	// Every field's position, as error messages show it.
	n := 0
	var walk func(at []cue.Selector, x cue.Value)
	walk = func(at []cue.Selector, x cue.Value) {
		it, err := x.Fields()
		if err != nil {
			return
		}
		for it.Next() {
			p := append(append([]cue.Selector(nil), at...), it.Selector())
			ps := cue.MakePath(p...).String()
			if f, g := full.Pos(ps).String(), fast.Pos(ps).String(); f != g {
				t.Errorf("position of %s: full %s, fast %s", ps, f, g)
			}
			n++
			walk(p, it.Value())
		}
	}
	walk(nil, v)
	if n < 50 {
		t.Errorf("compared the positions of only %d fields", n)
	}
}

// TestFastPathRefusesOpenTopLevel checks the one thing embedding #Service
// does not check without @experiment(explicitopen): a top-level field the
// spec declares beside the embedding is allowed by CUE, so the fast path
// must refuse it and leave it to the full unification, which rejects it.
func TestFastPathRefusesOpenTopLevel(t *testing.T) {
	inst, schemaInst, schema, sv, dir := embeddedWith(t, func(b []byte) []byte {
		return append(withoutExplicitOpen(t, b), "\nreplicaz: 3\n"...)
	})
	if !embedsService(inst, schemaInst) {
		t.Fatal("the edited spec is not recognised as embedding #Service")
	}
	if err := sv.Validate(cue.Concrete(true)); err != nil {
		t.Fatalf("CUE rejects the extra field already (%v): the test no longer shows the gap", err)
	}
	if s := loadInstance(sv, schema, dir); s != nil {
		t.Fatal("the fast path accepted a field #Service does not allow")
	}
	v := schema.LookupPath(cue.ParsePath("#Service")).Unify(sv)
	if err := v.Validate(cue.Concrete(true)); err == nil || !strings.Contains(err.Error(), "replicaz") {
		t.Errorf("full unification: %v, want replicaz not allowed", err)
	}
}

// TestEmbedsService checks which spellings count as embedding #Service.
func TestEmbedsService(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{`import "` + schemaImport + `"` + "\nschema.#Service\nname: \"x\"\n", true},
		{`import s "` + schemaImport + `"` + "\ns.#Service\n", true},
		{`import "` + schemaImport + `"` + "\nname: \"x\"\n", false},
		{`import "` + schemaImport + `"` + "\nschema.#Service & {name: \"x\"}\n", false},
		{`import "` + schemaImport + `"` + "\nx: schema.#Service\n", false},
		{`import "` + schemaImport + `"` + "\nschema.#Name\n", false},
		{`import schema "example.com/other/schema"` + "\nschema.#Service\n", false},
		{`import "` + schemaImport + `"` + "\nschema.#Service\n", true},
		{"#Service: {}\n#Service\n", false},
	} {
		f, err := parser.ParseFile("spec.cue", "package x\n"+c.src)
		if err != nil {
			t.Fatal(err)
		}
		// Only the schema's import resolves to the schema instance.
		schema := &build.Instance{ImportPath: schemaImport + "@v0", Dir: "/m/schema", PkgName: "schema"}
		imported := &build.Instance{ImportPath: schemaImport, Dir: "/m/schema", PkgName: "schema"}
		inst := &build.Instance{Files: []*ast.File{f}, Imports: []*build.Instance{imported}}
		if got := embedsService(inst, schema); got != c.want {
			t.Errorf("embedsService(%q) = %v, want %v", c.src, got, c.want)
		}
	}
}

// richSpec exercises what a spec folder can hold: two files, a tag, a
// hidden field, a let, an interpolation, a comprehension, FUSE with its
// grants, env of every kind, both volume kinds, labels and omit.
var richSpec = map[string]string{
	"a.cue": `package rich

_version: *"1.2.3" | string @tag(version)
let base = "/srv/rich"

name:        "rich"
description: "a service with one of everything"
entry: {package: "./cmd/rich", binary: "rich", args: ["serve", "--all"], health: ["probe"]}
image: {
	ref:     "registry.example.com/rich:\(_version)"
	builder: "golang:1.26.8"
	runtime: "alpine:3.22"
	user: {uid: 0, rootReason: "binds a privileged port on old kernels"}
	workdir: base
	labels: {"org.opencontainers.image.source": "https://example.com/rich", team: "core"}
	forbid: {binaries: ["curl"], goModules: ["github.com/example/bad"]}
}
ports: {
	http: number: 8080
	dns: {number: 5353, protocol: "UDP"}
}
health: {port: "http", liveness: "/livez", readiness: "/readyz", retries: 4}
`,
	"b.cue": `package rich

env: {
	RICH_DATA: {value: "/srv/rich/data/x", path: true, description: "data directory"}
	RICH_TOKEN: {secret: true, description: "API token"}
	RICH_MODE: {required: true, description: "run mode"}
	for n in ["A", "B"] {
		"RICH_OPT_\(n)": {value: n, description: "option \(n)"}
	}
}
volumes: {
	data: {path: "/srv/rich/data", kind: "persistent", size: "2Gi"}
	scratch: {path: "/tmp", kind: "tmpfs"}
}
fuse: mountPoint: "/mnt/rich"
security: {
	capabilities: {SYS_ADMIN: reason: "FUSE mount of the view", NET_BIND_SERVICE: reason: "binds port 80 inside"}
	devices: "/dev/fuse": reason: "FUSE mount of the view"
}
resources: {
	cpu: {request: "100m", limit: "1"}
	memory: {request: "64Mi", limit: "1Gi"}
}
workload: {kind: "StatefulSet", replicas: 2, restart: "always"}
labels: {team: "core", tier: "backend"}
omit: "volumes.*.size": compose: "a local named volume has no size"
`,
}

func writeSpec(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// specInstance loads the spec folder dir (tags applied) and the embedded
// schema into one context.
func specInstance(t *testing.T, dir string, tags ...string) (*cue.Context, *build.Instance, cue.Value) {
	t.Helper()
	ctx := cuecontext.New()
	ov, err := embeddedOverlay()
	if err != nil {
		t.Fatal(err)
	}
	_, vals, err := buildInstances(ctx, &load.Config{Dir: EmbeddedRoot, ModuleRoot: EmbeddedRoot, Overlay: ov}, "./"+cuemod.SchemaDir)
	if err != nil {
		t.Fatal(err)
	}
	insts, err := loadInstances(&load.Config{Dir: dir, Tags: tags, FS: newSpecFS(dir, dir)}, ".")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, insts[0], vals[0]
}

// TestWrappedEqualsFullPath checks that a spec folder takes Load's fast
// path (loadWrapped: one evaluation) and that it yields the very model,
// canonical JSON and digest of the full unification, which also must
// equal CUE's own MarshalJSON of it made canonical.
func TestWrappedEqualsFullPath(t *testing.T) {
	for name, c := range map[string]struct {
		dir  string
		tags []string
	}{
		"notes":        {dir: filepath.Join("..", "..", "golden", "notes", "spec")},
		"notes tagged": {dir: filepath.Join("..", "..", "golden", "notes", "spec"), tags: []string{"version=9.9.9"}},
		"minimal":      {dir: "minimal"},
		"rich":         {dir: "rich", tags: []string{"version=2.0.0"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := c.dir
			switch dir {
			case "minimal":
				dir = writeSpec(t, map[string]string{"spec.cue": minimalSpec})
			case "rich":
				dir = writeSpec(t, richSpec)
			}
			if dir, _ = filepath.Abs(dir); !filepath.IsAbs(dir) {
				t.Fatal(dir)
			}
			ctx, inst, schema := specInstance(t, dir, c.tags...)
			fast := loadWrapped(ctx, inst, schema, dir, func() cue.Value { return cue.Value{} })
			if fast == nil {
				t.Fatal("the fast path refused the spec")
			}
			_, sinst, _ := specInstance(t, dir, c.tags...)
			sv := ctx.BuildInstance(sinst)
			v := schema.LookupPath(cue.ParsePath("#Service")).Unify(sv)
			if err := v.Validate(cue.Concrete(true), cue.Hidden(true)); err != nil {
				t.Fatal(err)
			}
			full, derr := decode(v, dir, false)
			if derr != nil {
				t.Fatal(derr)
			}
			posText := cmp.Comparer(func(a, b token.Pos) bool { return a.String() == b.String() })
			if d := cmp.Diff(full, fast, cmpopts.IgnoreUnexported(Service{}), posText); d != "" {
				t.Errorf("fast path model (-full +fast):\n%s", d)
			}
			js, err := v.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if canon, err := canonicalJSON(js); err != nil || !bytes.Equal(canon, fast.JSON) {
				t.Errorf("canonical JSON from one reading:\n%s\nfrom MarshalJSON:\n%s (%v)", fast.JSON, canon, err)
			}
			s, err := Load(Options{Dir: dir, Tags: c.tags})
			if err != nil {
				t.Fatal(Details(err, ""))
			}
			if s.Digest != full.Digest {
				t.Errorf("Load's digest %s, the full path's %s", s.Digest, full.Digest)
			}
			if s.unified == nil {
				t.Fatal("Load did not take the fast path")
			}
			// Every field's position, as error messages show it.
			n := 0
			var walk func(at []cue.Selector, x cue.Value)
			walk = func(at []cue.Selector, x cue.Value) {
				it, err := x.Fields()
				if err != nil {
					return
				}
				for it.Next() {
					p := append(append([]cue.Selector(nil), at...), it.Selector())
					ps := cue.MakePath(p...).String()
					if f, g := full.Pos(ps).String(), s.Pos(ps).String(); f != g {
						t.Errorf("position of %s: full %s, Load %s", ps, f, g)
					}
					n++
					walk(p, it.Value())
				}
			}
			walk(nil, v)
			if n < 30 {
				t.Errorf("compared the positions of only %d fields", n)
			}
		})
	}
}

// TestWrappedFallsBack checks the specs the fast path must leave to the
// full path, and that Load still gives the full path's answer for them.
func TestWrappedFallsBack(t *testing.T) {
	crossFile := map[string]string{
		"a.cue": strings.Replace(minimalSpec, `name:        "web"`, `name:        _name`, 1),
		"b.cue": "package x\n\n_name: \"web\"\n",
	}
	for name, c := range map[string]struct {
		files   map[string]string
		loadErr string // "" when Load must succeed
	}{
		// The wrapping puts each file in its own braces: a reference
		// to another file's field finds nothing there.
		"reference across files": {files: crossFile},
		// The one name the wrapped files can reach besides their own.
		"uses the wrapping's name": {files: map[string]string{"spec.cue": minimalSpec + "\n" + wrapRef + ": {}\n"}},
		"unknown nested field": {
			files:   map[string]string{"spec.cue": strings.Replace(minimalSpec, `runtime: "alpine:3.22"}`, `runtime: "alpine:3.22", reff: "x"}`, 1)},
			loadErr: "image.reff: unknown field",
		},
		"unknown top-level field": {
			files:   map[string]string{"spec.cue": minimalSpec + "portz: 1\n"},
			loadErr: "portz: unknown field",
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeSpec(t, c.files)
			ctx, inst, schema := specInstance(t, dir)
			if s := loadWrapped(ctx, inst, schema, dir, func() cue.Value { return cue.Value{} }); s != nil {
				t.Error("the fast path accepted the spec")
			}
			_, err := Load(Options{Dir: dir})
			switch {
			case c.loadErr == "" && err != nil:
				t.Errorf("Load: %s", Details(err, ""))
			case c.loadErr != "" && (err == nil || !strings.Contains(Details(err, ""), c.loadErr)):
				t.Errorf("Load = %v, want %q", err, c.loadErr)
			}
		})
	}
}
