package spec

import (
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// SchemaImport is the import path of the schema package in the cue/
// module (any major version suffix aside).
const SchemaImport = "github.com/lighthouse-project/lighthouse/schema"

// openEmbeddings reports every file of inst that embeds the schema's
// #Service (`schema.#Service` at its top level, as cue/bridge does)
// without @experiment(explicitopen). CUE lets a struct that embeds a
// definition declare any field beside it, at every depth, so such a file
// is open under `go tool cue vet`: a misspelt field passes cue vet while
// Load, which unifies the spec with #Service, refuses it. The experiment
// keeps the embedded definition closed, and the two agree.
func openEmbeddings(inst *build.Instance) errors.Error {
	var errs errors.Error
	for _, f := range inst.Files {
		if explicitOpen(f) {
			continue
		}
		for _, d := range f.Decls {
			e, ok := d.(*ast.EmbedDecl)
			if !ok || !isServiceRef(e.Expr) {
				continue
			}
			errs = errors.Append(errs, &specError{
				format: "this file embeds schema.#Service without @experiment(explicitopen), so `cue vet` would accept fields #Service does not declare; add @experiment(explicitopen) before the package clause",
				spec:   []token.Pos{e.Pos()},
			})
		}
	}
	return errs
}

// explicitOpen reports whether the file enables the explicitopen
// experiment (@experiment(explicitopen), alone or among others).
func explicitOpen(f *ast.File) bool {
	for _, d := range f.Decls {
		a, ok := d.(*ast.Attribute)
		if !ok {
			continue
		}
		name, body := a.Split()
		if name != "experiment" {
			continue
		}
		for _, e := range strings.Split(body, ",") {
			if strings.TrimSpace(e) == "explicitopen" {
				return true
			}
		}
	}
	return false
}

// isServiceRef reports whether x is <import>.#Service for an import of the
// schema package.
func isServiceRef(x ast.Expr) bool {
	sel, ok := x.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	if name, _, err := ast.LabelName(sel.Sel); err != nil || name != "#Service" {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return false
	}
	spec, ok := id.Node.(*ast.ImportSpec)
	if !ok || spec.Path == nil {
		return false
	}
	p, err := literal.Unquote(spec.Path.Value)
	if err != nil {
		return false
	}
	p, _, _ = strings.Cut(p, "@")
	return p == SchemaImport
}
