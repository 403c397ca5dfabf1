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

// openEmbeddings reports every file of inst, a spec package that imports
// the schema, that lacks @experiment(explicitopen). CUE lets a struct that
// embeds a definition declare any field beside it, at every depth, so a
// file that embeds #Service (schema.#Service, schema.#Service & {...}, or
// a definition of its own that is #Service) without the experiment is
// open under `go tool cue vet`: a misspelt field passes cue vet while Load,
// which unifies the spec with #Service, refuses it. With the experiment an
// embedded definition stays closed, and the two agree. Every file of such
// a package must carry it, not only the one that embeds #Service: which
// file embeds what is for CUE to resolve, not for this check to guess.
func openEmbeddings(inst *build.Instance) errors.Error {
	imports := false
	for _, f := range inst.Files {
		for spec := range f.ImportSpecs() {
			if p, err := literal.Unquote(spec.Path.Value); err == nil && strings.Split(p, "@")[0] == SchemaImport {
				imports = true
			}
		}
	}
	if !imports {
		return nil
	}
	var errs errors.Error
	for _, f := range inst.Files {
		if explicitOpen(f) {
			continue
		}
		at := f.Pos()
		for _, d := range f.Decls {
			if c, ok := d.(*ast.Package); ok {
				at = c.Pos()
			}
		}
		errs = errors.Append(errs, &specError{
			format: "this spec imports the schema, so each of its files carries @experiment(explicitopen) before its package clause: without it, a file that embeds #Service lets `cue vet` accept fields #Service does not declare",
			spec:   []token.Pos{at},
		})
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
