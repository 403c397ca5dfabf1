package spec

import (
	"path"
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
