package spec

import (
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/errors"
	"mvdan.cc/sh/v3/syntax"
)

// checkTags rejects a tag given twice: CUE would unify both values and
// report a conflict on a hidden field ("_version: "1" is not allowed
// here") that does not say the command line is at fault.
func checkTags(tags []string) error {
	first := map[string]string{}
	for _, t := range tags {
		key, _, _ := strings.Cut(t, "=")
		if prev, ok := first[key]; ok {
			return fmt.Errorf("tag %s is given twice (-t %s and -t %s): give each tag once", key, prev, t)
		}
		first[key] = t
	}
	return nil
}

// noteTags adds to every error about a value that a -t tag set (an error
// with a spec position on the line of a field carrying that @tag) which
// tag and value it was: the value is the command line's, not the one the
// spec's file shows there.
func noteTags(errs errors.Error, inst *build.Instance, tags []string) errors.Error {
	if len(tags) == 0 || inst == nil {
		return errs
	}
	given := map[string]string{}
	for _, t := range tags {
		name, _, _ := strings.Cut(t, "=")
		given[name] = t
	}
	// file:line of a field carrying a @tag, or whose value refers to
	// one (image.mode: _dockerfileMode), → the tag's name.
	lines := map[string]string{}
	mark := func(field *ast.Field, tag string) {
		for _, p := range []ast.Node{field, field.Value} {
			lines[fmt.Sprintf("%s:%d", p.Pos().Filename(), p.Pos().Line())] = tag
		}
	}
	tagged := map[*ast.Field]string{}
	byName := map[string]string{} // label of a tagged field → tag
	for _, f := range inst.Files {
		ast.Walk(f, func(n ast.Node) bool {
			if field, ok := n.(*ast.Field); ok {
				for _, a := range field.Attrs {
					if key, body := a.Split(); key == "tag" {
						name, _, _ := strings.Cut(body, ",")
						tagged[field] = strings.TrimSpace(name)
						mark(field, tagged[field])
						if label, _, err := ast.LabelName(field.Label); err == nil {
							byName[label] = tagged[field]
						}
					}
				}
			}
			return true
		}, nil)
	}
	for _, f := range inst.Files {
		ast.Walk(f, func(n ast.Node) bool {
			field, ok := n.(*ast.Field)
			if !ok || tagged[field] != "" {
				return true
			}
			ast.Walk(field.Value, func(m ast.Node) bool {
				// A reference by name: the spec's own field, as a
				// reference resolves in the spec's package.
				if id, ok := m.(*ast.Ident); ok && byName[id.Name] != "" {
					mark(field, byName[id.Name])
				}
				return true
			}, nil)
			return true
		}, nil)
	}
	for _, e := range errors.Errors(errs) {
		se, ok := e.(*specError)
		if !ok {
			continue
		}
		for _, p := range se.spec {
			if t := given[lines[fmt.Sprintf("%s:%d", p.Filename(), p.Line())]]; t != "" {
				// Quoted for the shell when it must be (-t 'version=a b').
				if strings.ContainsFunc(t, func(r rune) bool { return !shellSafe(r) }) {
					if q, err := syntax.Quote(t, syntax.LangPOSIX); err == nil {
						t = q
					}
				}
				se.format += "; the value comes from -t %s"
				se.args = append(slices.Clone(se.args), t)
				break
			}
		}
	}
	return errs
}

// shellSafe reports whether r stands for itself in a POSIX shell word.
func shellSafe(r rune) bool {
	return r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_=:./@+,-%", r))
}
