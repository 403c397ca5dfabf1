package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/token"
	"k8s.io/apimachinery/pkg/api/resource"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

// EmbeddedRoot is the virtual directory the embedded CUE module is mounted
// at (through a load overlay); positions in the embedded spec show it.
const EmbeddedRoot = "/lighthouse-embedded/cue"

// Options selects the spec to load.
type Options struct {
	// Dir is the spec folder (one CUE package). Empty loads the embedded
	// bridge spec. A folder outside the CUE module does not import the
	// schema: the loader unifies it with #Service itself.
	Dir string
	// Tags are CUE tags, "key=value", injected like `cue -t`.
	Tags []string
}

// Load reads, unifies, validates and decodes a spec. Its error is a CUE
// error list (cuelang.org/go/cue/errors) holding every problem found,
// each with a position; print it with Details.
func Load(o Options) (*Service, error) {
	if err := checkTags(o.Tags); err != nil {
		return nil, err
	}
	ctx := cuecontext.New()
	overlay, err := embeddedOverlay()
	if err != nil {
		return nil, err
	}
	embedded := &load.Config{Dir: EmbeddedRoot, ModuleRoot: EmbeddedRoot, Overlay: overlay, Tags: o.Tags}
	var schema, sv cue.Value
	var dir string
	var open errors.Error    // files open under cue vet (see openEmbeddings)
	var inst *build.Instance // the spec's package, for noteTags
	if o.Dir == "" {
		// One load for both packages: the spec imports the schema, so
		// it is parsed once.
		insts, vals, err := buildInstances(ctx, embedded, "./"+cuemod.SchemaDir, "./"+cuemod.BridgeDir)
		if err != nil {
			untagged := *embedded
			untagged.Tags = nil
			return nil, loadError(err, &untagged, "./"+cuemod.BridgeDir, EmbeddedRoot+"/"+cuemod.BridgeDir, o.Tags)
		}
		schema, sv, dir, inst = vals[0], vals[1], EmbeddedRoot+"/"+cuemod.BridgeDir, insts[1]
		open = openEmbeddings(insts[1])
		// The embedded spec imports the embedded schema, the one
		// Load validates against, so when it embeds #Service its value
		// already is #Service unified with the spec.
		if open == nil && schema.Err() == nil && embedsService(insts[1], insts[0]) {
			if s := loadInstance(sv, schema, dir); s != nil {
				return s, nil
			}
		}
	} else {
		embedded.Tags = nil
		_, vals, err := buildInstances(ctx, embedded, "./"+cuemod.SchemaDir)
		if err != nil {
			return nil, err
		}
		schema = vals[0]
		var s *Service
		if s, inst, sv, dir, err = loadFolder(ctx, o, schema); s != nil || err != nil {
			return s, err
		}
		// A spec whose files lack explicitopen takes the full path
		// (loadFolder tries the fast one only without), which reports it.
		open = openEmbeddings(inst)
	}
	if err := schema.Err(); err != nil {
		return nil, err
	}
	def := schema.LookupPath(cue.ParsePath("#Service"))
	if !def.Exists() {
		return nil, fmt.Errorf("embedded schema has no #Service")
	}
	v := def.Unify(sv)
	verr := v.Validate(cue.Concrete(true), cue.Hidden(true))
	s, derr := decode(v, dir, verr != nil || open != nil)
	if verr != nil || derr != nil || open != nil {
		errs := annotate(errors.Append(errors.Append(open, cueErrors(verr, v, def, sv, dir)), derr), v, sv, schema, dir)
		return nil, noteTags(errs, inst, o.Tags)
	}
	return s, nil
}

// loadFolder loads the spec folder o.Dir: through loadWrapped's single
// evaluation when it succeeds (s is set), else the spec's own value sv
// and package inst for Load's full unification with #Service.
func loadFolder(ctx *cue.Context, o Options, schema cue.Value) (s *Service, inst *build.Instance, sv cue.Value, dir string, err error) {
	if dir, err = filepath.Abs(o.Dir); err != nil {
		return nil, nil, sv, "", err
	}
	if err := checkSpecDir(o.Dir, dir); err != nil {
		return nil, nil, sv, "", err
	}
	// CUE reads the folder through specFS: only regular files, never one
	// that blocks or never ends, within MaxSpecBytes. Each load reads the
	// files afresh (the fast path's build shares the syntax trees it
	// wraps).
	loadErr := func(err error) error {
		return loadError(err, &load.Config{Dir: dir, FS: newSpecFS(o.Dir, dir)}, ".", dir, o.Tags)
	}
	buildSpec := func(ctx *cue.Context) (*build.Instance, cue.Value, error) {
		fsys := newSpecFS(o.Dir, dir)
		insts, vals, err := buildInstances(ctx, &load.Config{Dir: dir, Tags: o.Tags, FS: fsys}, ".")
		if r := fsys.Refused(); r != nil {
			return nil, cue.Value{}, r
		}
		if err != nil {
			return nil, cue.Value{}, loadErr(err)
		}
		return insts[0], vals[0], nil
	}
	fsys := newSpecFS(o.Dir, dir)
	insts, err := loadInstances(&load.Config{Dir: dir, Tags: o.Tags, FS: fsys}, ".")
	if r := fsys.Refused(); r != nil {
		return nil, nil, sv, dir, r
	}
	if err != nil {
		return nil, nil, sv, dir, loadErr(err)
	}
	if err := checkOrphans(insts[0], fsys); err != nil {
		return nil, nil, sv, dir, err
	}
	if schema.Err() == nil && openEmbeddings(insts[0]) == nil {
		// Positions come from the full unification, built when first
		// asked for, in a context of its own: other goroutines may be
		// reading values of this one meanwhile.
		full := func() cue.Value {
			ctx := cuecontext.New()
			overlay, err := embeddedOverlay()
			if err != nil {
				return cue.Value{}
			}
			_, vals, err := buildInstances(ctx, &load.Config{Dir: EmbeddedRoot, ModuleRoot: EmbeddedRoot, Overlay: overlay}, "./"+cuemod.SchemaDir)
			if err != nil {
				return cue.Value{}
			}
			_, sv, err := buildSpec(ctx)
			if err != nil {
				return cue.Value{}
			}
			return unifyWith(vals[0], sv)
		}
		if s := loadWrapped(ctx, insts[0], schema, dir, full); s != nil {
			return s, nil, sv, dir, nil
		}
	}
	inst, sv, err = buildSpec(ctx)
	return nil, inst, sv, dir, err
}

// loadInstance is Load's fast path for a spec that embeds #Service (see
// embedsService): it validates and decodes sv without unifying it with
// #Service a second time, which costs as much as the validation itself.
// Embedding leaves the spec's own top-level fields open, so each must be
// one #Service allows. It returns nil when anything fails: Load then
// takes the full path, whose unification with #Service closes the top
// level and whose reports are the ones users see. Only fields #Service
// declares are let through: a field only a pattern of #Service would
// allow goes the full path too.
func loadInstance(sv, schema cue.Value, dir string) *Service {
	def := schema.LookupPath(cue.ParsePath("#Service"))
	if !def.Exists() || sv.Validate(cue.Concrete(true), cue.Hidden(true)) != nil {
		return nil
	}
	declared := map[string]bool{}
	it, err := def.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	for it.Next() {
		// "fuse?" and "name!" declare fuse and name (a quoted label
		// ends in its quote).
		declared[strings.TrimRight(it.Selector().String(), "?!")] = true
	}
	if it, err = sv.Fields(); err != nil {
		return nil
	}
	for it.Next() {
		if !declared[it.Selector().String()] {
			return nil
		}
	}
	s, derr := decode(sv, dir, false)
	if derr != nil {
		return nil
	}
	// Positions are asked for only to report a problem: the full
	// unification is done then.
	s.unified = sync.OnceValue(func() cue.Value { return unifyWith(schema, sv) })
	return s
}

// unifyWith is #Service of schema unified with the spec's value sv,
// evaluated whole so that concurrent lookups only read it (Service.Pos).
func unifyWith(schema, sv cue.Value) cue.Value {
	v := schema.LookupPath(cue.ParsePath("#Service")).Unify(sv)
	_ = v.Validate(cue.Concrete(true), cue.Hidden(true)) // it passed already
	return v
}

// wrapRef names #Service in the scope of loadWrapped's build: the one
// name the spec's files can reach beyond their own. A spec that uses the
// name takes the full path.
const wrapRef = "#LighthouseService_"

// loadWrapped is Load's fast path for a spec folder: one evaluation of
// the spec unified with #Service, where the full path evaluates the spec
// alone and then its unification with #Service, each in time that grows
// faster than the spec (CUE finds a struct's fields by a linear search
// while it builds the struct). The declarations of each file of inst
// become the operand of #Service & {...}, so #Service closes the spec at
// every level as the full unification does (embedding #Service instead
// would leave the spec's own fields open). It returns nil when anything
// fails, and whenever the wrapping could change the spec's meaning (a
// reference from one file to a field of another finds nothing inside
// the braces): Load then takes the full path, whose reports are the ones
// users see. full gives the full unification for positions (Pos).
func loadWrapped(ctx *cue.Context, inst *build.Instance, schema cue.Value, dir string, full func() cue.Value) (s *Service) {
	if usesName(inst, wrapRef) {
		return nil
	}
	// The wrapped syntax is built by CUE's compiler, which panics on
	// some syntax it did not parse itself; the full path is the answer
	// then too.
	defer func() {
		if recover() != nil {
			s = nil
		}
	}()
	scope := ctx.CompileString(wrapRef+": #Service", cue.Scope(schema))
	if scope.Err() != nil {
		return nil
	}
	w, ok := wrapFiles(inst)
	if !ok {
		return nil
	}
	v := ctx.BuildInstance(w, cue.Scope(scope))
	if v.Err() != nil || v.Validate(cue.Concrete(true), cue.Hidden(true)) != nil {
		return nil
	}
	s, derr := decode(v, dir, false)
	if derr != nil {
		return nil
	}
	s.unified = sync.OnceValue(full)
	return s
}

// wrapFiles is inst with each file's declarations, but for its package
// clause, imports and file attributes, moved into #Service & {...}
// (under wrapRef), its identifiers resolved again in their new scopes.
// The syntax trees of the declarations are shared with inst, whose
// identifiers then point into the new ones: inst must not be built after.
// ok is false when the new resolution reports an error.
func wrapFiles(inst *build.Instance) (w *build.Instance, ok bool) {
	w = new(build.Instance)
	*w = *inst
	w.Files = make([]*ast.File, len(inst.Files))
	ok = true
	for i, f := range inst.Files {
		wf := *f
		var head, body []ast.Decl
		for _, d := range f.Decls {
			switch d.(type) {
			case *ast.Package, *ast.ImportDecl, *ast.Attribute:
				head = append(head, d)
			default:
				body = append(body, d)
			}
		}
		wf.Decls = append(head, &ast.EmbedDecl{Expr: &ast.BinaryExpr{
			X: ast.NewIdent(wrapRef), Op: token.AND, Y: &ast.StructLit{Elts: body}}})
		wf.Unresolved = nil
		astutil.Resolve(&wf, func(token.Pos, string, ...any) { ok = false })
		w.Files[i] = &wf
	}
	return w, ok
}

// usesName reports whether an identifier of inst's files is name.
func usesName(inst *build.Instance, name string) bool {
	found := false
	for _, f := range inst.Files {
		ast.Walk(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && id.Name == name {
				found = true
			}
			return !found
		}, nil)
	}
	return found
}

// embedsService reports whether the package inst embeds #Service of the
// package schema (its import resolves to the same package of the same
// folder) at the top level of one of its files, as cue/bridge does with `schema.#Service`: the package's value
// then is #Service unified with the rest of the package. Only that plain
// form counts; anything else (a conjunction, a disjunction, an embedding
// inside a field) is left to the full unification.
func embedsService(inst, schema *build.Instance) bool {
	for _, f := range inst.Files {
		for _, d := range f.Decls {
			e, ok := d.(*ast.EmbedDecl)
			if !ok {
				continue
			}
			sel, ok := e.Expr.(*ast.SelectorExpr)
			if !ok {
				continue
			}
			if name, _, err := ast.LabelName(sel.Sel); err != nil || name != "#Service" {
				continue
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				continue
			}
			spec, ok := x.Node.(*ast.ImportSpec)
			if !ok || spec.Path == nil {
				continue
			}
			p, err := literal.Unquote(spec.Path.Value)
			if err != nil {
				continue
			}
			if imp := inst.LookupImport(p); imp != nil && imp.Dir == schema.Dir && imp.PkgName == schema.PkgName {
				return true
			}
		}
	}
	return false
}

// cueErrors completes verr, Validate's errors, with those it leaves out,
// so one run reports every error. An error that makes the whole spec
// bottom (a rule of #Service failing on a broken field) can stop Validate
// before it reaches the other fields, so each top-level field is
// validated on its own too; and Validate leaves out the fields a spec
// lacks when it has other errors to report (see incomplete).
func cueErrors(verr error, v, def, sv cue.Value, dir string) errors.Error {
	if verr == nil {
		return nil
	}
	var all errors.Error
	seen := map[string]bool{} // path, and path + message
	add := func(e errors.Error) {
		path := strings.Join(e.Path(), ".")
		if k := path + ": " + e.Error(); !seen[k] {
			seen[k], seen[path] = true, true
			all = errors.Append(all, e)
		}
	}
	for _, e := range errors.Errors(verr) {
		add(e)
	}
	// A bottom struct lists no fields, and CUE leaves out the unknown
	// fields of a struct that has another error: every struct is walked,
	// its field names taken from the schema, the spec and v, each field
	// validated on its own and held against what the schema allows there.
	var walk func(at []cue.Selector, d cue.Value)
	walk = func(at []cue.Selector, d cue.Value) {
		for _, sel := range fieldSels(at, def, sv, v) {
			p := append(slices.Clone(at), sel)
			fv := v.LookupPath(cue.MakePath(p...))
			for _, e := range errors.Errors(fv.Validate(cue.Concrete(true), cue.Hidden(true))) {
				add(e)
			}
			fd := d.LookupPath(cue.MakePath(sel))
			if !fd.Exists() && d.Exists() {
				// Only a field the spec writes can be unknown, and not
				// one a rule of the schema adds (rootReason with uid 0).
				if sv.LookupPath(cue.MakePath(p...)).Exists() && isStruct(d) && !d.Allows(sel) && !declaredOutside(fv, dir, 0) {
					uf := &unknownField{path: append([]string{"#Service"}, selStrings(p)...)}
					if !seen[strings.Join(uf.path, ".")] {
						add(uf)
					}
					continue
				}
				fd = d.LookupPath(cue.MakePath(cue.AnyString))
			}
			// A struct with an error is bottom: the schema or the spec
			// tells it is a struct.
			if isStruct(fv) || isStruct(fd) || isStruct(sv.LookupPath(cue.MakePath(p...))) {
				walk(p, fd)
			}
		}
	}
	walk(nil, def)
	for _, e := range incomplete(v, def) {
		if !seen[strings.Join(e.Path(), ".")] {
			add(e)
		}
	}
	return withoutEchoes(all)
}

// withoutEchoes leaves out a type error CUE reports at a struct when a
// rule of the schema reads a wrong field of it ("security: cannot use
// "no" (type string) as type bool" from `if privileged`): the field's own
// error, at its own position, says the same.
func withoutEchoes(all errors.Error) errors.Error {
	list := errors.Errors(all)
	var out errors.Error
	for _, e := range list {
		format, args := e.Msg()
		echo := false
		// A validator of a field (#Line's pattern, say) that meets the
		// error a rule put there reports "invalid left-hand value to
		// '=~' (type _|_): <that error>": the rule's own error says it.
		if strings.HasPrefix(format, "invalid left-hand value to ") && strings.Contains(format, "(type %s)") && len(args) >= 2 && fmt.Sprint(args[1]) == "_|_" {
			for _, o := range list {
				if o != e && slices.Equal(o.Path(), e.Path()) {
					f, _ := o.Msg()
					echo = echo || !strings.HasPrefix(f, "invalid left-hand value to ")
				}
			}
		}
		if strings.HasPrefix(format, "cannot use %s (type %s) as type %s") && len(args) > 0 {
			for _, o := range list {
				if len(o.Path()) <= len(e.Path()) || !slices.Equal(o.Path()[:len(e.Path())], e.Path()) {
					continue
				}
				for _, p := range errors.Positions(e) {
					echo = echo || slices.Contains(errors.Positions(o), p)
				}
			}
		}
		if !echo {
			out = errors.Append(out, e)
		}
	}
	return out
}

// fieldSels are the regular fields at path at of each of the values,
// each once, in the order they come.
func fieldSels(at []cue.Selector, vals ...cue.Value) []cue.Selector {
	var out []cue.Selector
	seen := map[string]bool{}
	for _, x := range vals {
		it, err := x.LookupPath(cue.MakePath(at...)).Fields()
		if err != nil {
			continue
		}
		for it.Next() {
			if k := it.Selector().String(); !seen[k] {
				seen[k] = true
				out = append(out, it.Selector())
			}
		}
	}
	return out
}

// declaredOutside reports whether a conjunct of v comes from outside the
// spec's folder dir: the schema declares the field.
func declaredOutside(v cue.Value, dir string, depth int) bool {
	if p := v.Pos(); p.IsValid() && filepath.Dir(p.Filename()) != dir {
		return true
	}
	op, args := v.Expr()
	if op != cue.AndOp || depth > 4 {
		return false
	}
	for _, a := range args {
		if declaredOutside(a, dir, depth+1) {
			return true
		}
	}
	return false
}

func isStruct(v cue.Value) bool { return v.IncompleteKind() == cue.StructKind }

func selStrings(sels []cue.Selector) []string {
	out := make([]string, len(sels))
	for i, s := range sels {
		out[i] = s.String()
	}
	return out
}

// unknownField is CUE's "field not allowed" for a field the schema does
// not allow, found by cueErrors where CUE reported it not (a sibling of
// the field has an error); annotate explains it like CUE's own.
type unknownField struct{ path []string }

func (e *unknownField) Path() []string                   { return e.path }
func (e *unknownField) Msg() (format string, args []any) { return "field not allowed", nil }
func (e *unknownField) Position() token.Pos              { return token.NoPos }
func (e *unknownField) InputPositions() []token.Pos      { return nil }
func (e *unknownField) Error() string {
	return strings.Join(e.path, ".") + ": field not allowed"
}

// incomplete finds the regular fields of v that are not concrete and
// have no default: the required fields the spec leaves out.
func incomplete(v, def cue.Value) []errors.Error {
	var out []errors.Error
	var walk func(cue.Value)
	walk = func(x cue.Value) {
		// A struct with an error inside is bottom, yet its fields can
		// still be walked.
		if it, err := x.Fields(); err == nil {
			for it.Next() {
				walk(it.Value())
			}
			return
		}
		for _, e := range errors.Errors(x.Validate(cue.Concrete(true))) {
			if format, _ := e.Msg(); strings.HasPrefix(format, "incomplete value") {
				out = append(out, e)
			}
		}
	}
	// The top level may be bottom and list no fields: #Service names them.
	if it, err := def.Fields(); err == nil {
		for it.Next() {
			walk(v.LookupPath(cue.MakePath(it.Selector())))
		}
	}
	return out
}

func embeddedOverlay() (map[string]load.Source, error) {
	ov := map[string]load.Source{}
	err := fs.WalkDir(cuemod.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(cuemod.FS, p)
		if err != nil {
			return err
		}
		ov[path.Join(EmbeddedRoot, p)] = load.FromBytes(b)
		return nil
	})
	return ov, err
}

// loadInstances loads the packages named by args, in order.
func loadInstances(cfg *load.Config, args ...string) ([]*build.Instance, error) {
	insts := load.Instances(args, cfg)
	if len(insts) != len(args) {
		return nil, fmt.Errorf("spec %s: expected %d CUE packages, found %d", cfg.Dir, len(args), len(insts))
	}
	for _, inst := range insts {
		if inst.Err != nil {
			return nil, inst.Err
		}
	}
	return insts, nil
}

// buildInstances loads and builds the packages named by args, in order.
func buildInstances(ctx *cue.Context, cfg *load.Config, args ...string) ([]*build.Instance, []cue.Value, error) {
	insts, err := loadInstances(cfg, args...)
	if err != nil {
		return nil, nil, err
	}
	// A value that evaluates to an error is returned as it is: Load
	// validates it with the schema and reports every error of it, at
	// the spec's positions.
	vals, err := ctx.BuildInstances(insts)
	return insts, vals, err
}

// decode turns the unified value into the model and runs the checks CUE
// cannot express (quantity arithmetic), reporting them at spec positions.
// With failed set, CUE has already reported errors: decode then reads
// field by field, skips what does not decode (CUE reported it) and still
// runs every check whose fields are sound, so one run shows every error.
// Without it, every struct of v is read once (see node), and the model
// and the canonical JSON come from that one reading.
func decode(v cue.Value, dir string, failed bool) (*Service, errors.Error) {
	s := &Service{value: v, specDir: dir}
	var errs errors.Error
	var root *node
	if !failed {
		root = read(v)
	}
	// lookup is the node of the field at p, nil when the spec leaves an
	// optional field out. A failed value may be bottom at the top, yet
	// its fields can still be looked up one by one.
	lookup := func(p string) *node {
		if root != nil {
			return root.at(p)
		}
		fv := v.LookupPath(cue.ParsePath(p))
		if !fv.Exists() {
			return nil
		}
		return read(fv)
	}
	get := func(p string, dst any) bool {
		n := lookup(p)
		if n == nil {
			return false // an optional field the spec leaves out
		}
		err := n.decode(dst)
		if err != nil && !failed {
			errs = errors.Append(errs, s.decodeErr(p, n, err))
		}
		return err == nil
	}
	dur := func(field string) time.Duration {
		var text string
		if !get(field, &text) {
			return 0
		}
		d, err := time.ParseDuration(text)
		if err != nil {
			errs = errors.Append(errs, s.errorf(field, "%q is not a duration: %v", text, err))
		}
		return d
	}
	get("name", &s.Name)
	get("description", &s.Description)
	get("entry", &s.Entry)
	var img struct {
		Ref, Builder, Runtime, Mode, Workdir string
		User                                 struct {
			UID        int    `json:"uid"`
			GID        int    `json:"gid"`
			RootReason string `json:"rootReason"`
		}
		Labels map[string]string
		Forbid struct {
			Binaries  []string `json:"binaries"`
			GoModules []string `json:"goModules"`
		} `json:"forbid"`
	}
	get("image", &img)
	s.Image = Image{
		Ref: img.Ref, Builder: img.Builder, Runtime: img.Runtime, Mode: img.Mode,
		UID: img.User.UID, GID: img.User.GID, RootReason: img.User.RootReason,
		Workdir: img.Workdir, Labels: img.Labels,
		Forbid: Forbid{Binaries: img.Forbid.Binaries, GoModules: img.Forbid.GoModules},
	}
	get("health.port", &s.Health.Port)
	get("health.liveness", &s.Health.Liveness)
	get("health.readiness", &s.Health.Readiness)
	get("health.retries", &s.Health.Retries)
	s.Health.Interval = dur("health.interval")
	s.Health.Timeout = dur("health.timeout")
	s.Health.StartPeriod = dur("health.startPeriod")
	if lookup("fuse") != nil {
		s.FUSE = &FUSE{}
		get("fuse.mountPoint", &s.FUSE.MountPoint)
	}
	get("security.privileged", &s.Security.Privileged)
	get("security.privilegedReason", &s.Security.PrivilegedReason)
	get("security.readOnlyRoot", &s.Security.ReadOnlyRoot)
	get("resources.cpu.request", &s.Resources.CPURequest)
	get("resources.cpu.limit", &s.Resources.CPULimit)
	get("resources.memory.request", &s.Resources.MemoryRequest)
	get("resources.memory.limit", &s.Resources.MemoryLimit)
	get("workload.kind", &s.Workload.Kind)
	get("workload.replicas", &s.Workload.Replicas)
	get("workload.restart", &s.Workload.Restart)
	s.Workload.StopGracePeriod = dur("workload.stopGracePeriod")
	get("kubernetes.fuseDevice", &s.Kubernetes.FUSEDevice)
	get("kubernetes.fuseResource", &s.Kubernetes.FUSEResource)
	get("labels", &s.Labels)
	get("omit", &s.Omit)
	s.Source = s.Name

	// each decodes every element of a map, in the spec's order; an
	// element that does not decode is left out when CUE already
	// reported it.
	each := func(field string, fn func(name string, n *node) error) {
		m := lookup(field)
		if m == nil {
			return
		}
		for i, name := range m.keys {
			if err := fn(name, m.kids[i]); err != nil && !failed {
				errs = errors.Append(errs, s.decodeErr(field+"."+quoteLabel(name), m.kids[i], err))
			}
		}
	}
	each("ports", func(name string, n *node) error {
		var p struct {
			Number   int    `json:"number"`
			Protocol string `json:"protocol"`
		}
		if err := n.decode(&p); err != nil {
			return err
		}
		s.Ports = append(s.Ports, Port{Name: name, Number: p.Number, Protocol: p.Protocol, Pos: s.valuePos(n.v)})
		return nil
	})
	each("env", func(name string, n *node) error {
		var e struct {
			Description string
			Required    bool
			Secret      bool
			Path        bool
			Value       *string
		}
		if err := n.decode(&e); err != nil {
			return err
		}
		ev := EnvVar{Name: name, Description: e.Description, Required: e.Required, Secret: e.Secret,
			Path: e.Path, Pos: s.valuePos(n.v)}
		if e.Value != nil {
			ev.Value, ev.HasValue = *e.Value, true
		}
		s.Env = append(s.Env, ev)
		return nil
	})
	each("volumes", func(name string, n *node) error {
		var vol struct{ Path, Kind, Size string }
		if err := n.decode(&vol); err != nil {
			return err
		}
		s.Volumes = append(s.Volumes, Volume{Name: name, Path: vol.Path, Persistent: vol.Kind == "persistent",
			Size: vol.Size, Pos: s.valuePos(n.v)})
		return nil
	})
	for _, g := range []struct {
		field string
		dst   *[]Grant
	}{{"security.capabilities", &s.Security.Capabilities}, {"security.devices", &s.Security.Devices}} {
		each(g.field, func(name string, n *node) error {
			var r struct{ Reason string }
			if err := n.decode(&r); err != nil {
				return err
			}
			*g.dst = append(*g.dst, Grant{Name: name, Reason: r.Reason, Pos: s.valuePos(n.v)})
			return nil
		})
	}
	errs = errors.Append(errs, s.check())
	if errs != nil || failed {
		return nil, errs
	}
	if root.err != nil {
		return nil, errors.Promote(root.err, "spec")
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, root.val); err != nil {
		return nil, errors.Promote(err, "spec")
	}
	js := b.Bytes()
	sum := sha256.Sum256(js)
	s.Digest, s.JSON = hex.EncodeToString(sum[:]), js
	return s, nil
}

// check parses every quantity with the upstream Kubernetes parser and
// compares limits with requests: the schema checks both (bounds.cue), and
// this holds its arithmetic to the upstream parser's. A field the schema
// found wrong does not decode, so nothing is reported twice.
func (s *Service) check() errors.Error {
	var errs errors.Error
	// An empty quantity is a field CUE already reported (or a required
	// one it reported missing): nothing to compare.
	quantity := func(field, text string) (resource.Quantity, bool) {
		if text == "" {
			return resource.Quantity{}, false
		}
		q, err := resource.ParseQuantity(text)
		if err != nil {
			errs = errors.Append(errs, s.errorf(field, "%q is not a Kubernetes quantity (%v); write for example 500m, 2, 256Mi or 1Gi", text, err))
			return q, false
		}
		return q, true
	}
	pair := func(kind, req, lim string) {
		rq, ok1 := quantity("resources."+kind+".request", req)
		lq, ok2 := quantity("resources."+kind+".limit", lim)
		if ok1 && ok2 && lq.Cmp(rq) < 0 {
			errs = errors.Append(errs, s.errorf("resources."+kind+".limit",
				"limit %s is below request %s; raise the limit or lower the request", lim, req))
		}
	}
	pair("cpu", s.Resources.CPURequest, s.Resources.CPULimit)
	pair("memory", s.Resources.MemoryRequest, s.Resources.MemoryLimit)
	// Volume sizes are quantities too; the schema (bounds.cue) compares
	// them, the volume paths and the FUSE mount point.
	for _, v := range s.Volumes {
		quantity("volumes."+quoteLabel(v.Name)+".size", v.Size)
	}
	return errs
}

// quoteLabel writes a field label as cue.ParsePath reads it: an
// identifier as it is, anything else (device paths such as "/dev/fuse",
// names such as "1abc" or "", and names starting with _ or #, which
// ParsePath would take for hidden fields or definitions) quoted.
func quoteLabel(name string) string {
	if ast.IsValidIdent(name) && !strings.HasPrefix(name, "_") && !strings.HasPrefix(name, "#") && token.Lookup(name) == token.IDENT {
		return name
	}
	return literal.String.Quote(name)
}

// decodeErr is the error of decoding the field at path p (node n) into
// the model: a value CUE accepts that the model's Go type cannot hold (an
// integer beyond 64 bits), at the value's position.
func (s *Service) decodeErr(p string, n *node, err error) errors.Error {
	var te *json.UnmarshalTypeError
	if !stderrors.As(err, &te) {
		if ce, ok := err.(errors.Error); ok {
			return ce
		}
		return s.errorf(p, "%v", err)
	}
	at, where := n, p
	for _, label := range strings.Split(te.Field, ".") {
		for i, k := range at.keys {
			if label != "" && strings.EqualFold(k, label) {
				at, where = at.kids[i], where+"."+quoteLabel(k)
				break
			}
		}
	}
	value := strings.TrimPrefix(te.Value, "number ")
	var e *specError
	switch k := te.Type.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64 && strings.HasPrefix(value, "-"):
		e = s.errorf(where, "%s is too small: the smallest number here is %d", value, int64(-1)<<(te.Type.Bits()-1))
	case k >= reflect.Int && k <= reflect.Int64:
		e = s.errorf(where, "%s is too large: the largest number here is %d", value, uint64(1)<<(te.Type.Bits()-1)-1)
	default:
		e = s.errorf(where, "%s cannot be read as %s", value, te.Type)
	}
	if pos := s.valuePos(at.v); pos.IsValid() {
		e.spec = []token.Pos{pos}
	}
	return e
}
