package spec

import (
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

// Field is one field of a spec down to the values a reader is told about:
// a scalar, a list, or a map of scalars (labels).
type Field struct {
	// Path is the concrete dotted path, "volumes.events.size".
	Path string
	// Pattern is Path with every map key (a name the author chose)
	// replaced by "*": "volumes.*.size".
	Pattern string
}

// Fields lists the fields the spec sets, in schema order, defaults and
// fields a rule adds included (as explain must describe them all);
// omit is left out: it annotates the other fields, it is not one of them.
func (s *Service) Fields() []Field {
	var out []Field
	walkFields(s.value, nil, nil, false, func(f Field) { out = append(out, f) })
	return out
}

// SchemaFields lists the field patterns of #Service itself, optional ones
// included ("image.forbid.binaries", "env.*.description"). Fields that a
// rule adds only under a condition (image.user.rootReason when uid is 0)
// are not among them: they exist only in a spec that meets it.
func SchemaFields() ([]string, error) {
	overlay, err := embeddedOverlay()
	if err != nil {
		return nil, err
	}
	_, vals, err := buildInstances(cuecontext.New(), &load.Config{Dir: EmbeddedRoot, ModuleRoot: EmbeddedRoot, Overlay: overlay}, "./"+cuemod.SchemaDir)
	if err != nil {
		return nil, err
	}
	def := vals[0].LookupPath(cue.ParsePath("#Service"))
	if !def.Exists() {
		return nil, fmt.Errorf("embedded schema has no #Service")
	}
	var out []string
	walkFields(def, nil, nil, true, func(f Field) {
		if !slices.Contains(out, f.Pattern) {
			out = append(out, f.Pattern)
		}
	})
	return out, nil
}

// walkFields calls fn for every field below v: a struct with a pattern
// constraint over its keys is a map, walked with "*" for its keys when its
// values are structs, else a field itself.
func walkFields(v cue.Value, at, pattern []string, optional bool, fn func(Field)) {
	if !structLike(v) {
		if v.IncompleteKind() == cue.BottomKind {
			return // a field the schema forbids (SYS_ADMIN?: error(...))
		}
		fn(Field{Path: strings.Join(at, "."), Pattern: strings.Join(pattern, ".")})
		return
	}
	elem := v.LookupPath(cue.MakePath(cue.AnyString))
	isMap := elem.Exists()
	if isMap && !structLike(elem) {
		fn(Field{Path: strings.Join(at, "."), Pattern: strings.Join(pattern, ".")})
		return
	}
	if optional && isMap {
		walkFields(elem, append(slices.Clone(at), "*"), append(slices.Clone(pattern), "*"), optional, fn)
	}
	it, err := v.Fields(cue.Optional(optional))
	if err != nil {
		return
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		if len(at) == 0 && name == "omit" {
			continue
		}
		p := name
		if isMap {
			p = "*"
		}
		walkFields(it.Value(), append(slices.Clone(at), name), append(slices.Clone(pattern), p), optional, fn)
	}
}

// structLike reports whether v is a struct, or one whose kind is still
// unknown because a rule of the schema waits for the spec's values (such
// as #Service itself) yet which has fields.
func structLike(v cue.Value) bool {
	switch v.IncompleteKind() {
	case cue.StructKind:
		return true
	case cue.BottomKind:
		it, err := v.Fields(cue.Optional(true))
		return err == nil && it.Next()
	}
	return false
}
