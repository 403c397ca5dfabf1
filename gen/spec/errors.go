package spec

import (
	stderrors "errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

// specError is one problem of a spec as its author should read it: the
// path without the #Service prefix, a message that says what to do, and
// the positions in the author's spec kept apart from the schema's, so
// Details can leave the schema's out: they change with every schema edit
// and tell the author nothing they can change.
type specError struct {
	path   []string
	format string
	args   []any
	spec   []token.Pos // positions in the spec's folder
	schema []token.Pos // every other position (the embedded schema)

	// cueFormat and cueArgs are CUE's own message, before explain.
	cueFormat string
	cueArgs   []any
}

func (e *specError) Path() []string                   { return e.path }
func (e *specError) Msg() (format string, args []any) { return e.format, e.args }

// Position is the first spec position, so errors sort in the order the
// author reads the spec.
func (e *specError) Position() token.Pos {
	if len(e.spec) > 0 {
		return e.spec[0]
	}
	if len(e.schema) > 0 {
		return e.schema[0]
	}
	return token.NoPos
}

func (e *specError) InputPositions() []token.Pos {
	return append(slices.Clone(e.spec), e.schema...)
}

func (e *specError) Error() string {
	msg := fmt.Sprintf(e.format, e.args...)
	if p := strings.Join(e.path, "."); p != "" && !strings.HasPrefix(msg, p+" ") {
		return p + ": " + msg
	}
	return msg
}

// errorf makes the error of a Go-side check about the spec field at path
// (a CUE path such as "resources.cpu.limit").
func (s *Service) errorf(path, format string, args ...any) *specError {
	var sels []string
	for _, sel := range cue.ParsePath(path).Selectors() {
		sels = append(sels, sel.String())
	}
	return &specError{path: sels, format: format, args: args, spec: []token.Pos{s.Pos(path)}}
}

// shown is a specError as printed: the message, and only the positions
// in the spec unless there are none (or verbose is set).
type shown struct {
	*specError
	verbose bool
}

// Path is left out when the message starts with it ("description is
// required: ..."), so the line does not say it twice.
func (e shown) Path() []string {
	msg := fmt.Sprintf(e.format, e.args...)
	if p := strings.Join(e.path, "."); strings.HasPrefix(msg, p+" ") {
		return nil // the message starts with the path already
	}
	return e.path
}

func (e shown) InputPositions() []token.Pos {
	if e.verbose || len(e.spec) == 0 {
		return e.specError.InputPositions()
	}
	return e.spec
}

// annotate turns every error of err into a specError: positions split
// into the spec's and the schema's, the nearest field the spec writes
// added when CUE gave no spec position, and CUE's generic messages
// rewritten into ones that say what to do (see explain).
func annotate(err errors.Error, v, sv, schema cue.Value, dir string) errors.Error {
	var list []*specError
	// Unknown fields are left out of the fields each one says are allowed.
	unknown := map[string]bool{}
	for _, e := range errors.Errors(err) {
		if f, _ := e.Msg(); f == "field not allowed" {
			unknown[strings.Join(trimService(e.Path()), ".")] = true
		}
	}
	// A field the spec writes with the wrong kind ("cpu: "100m"" where
	// a struct belongs) makes every field below it missing: the kind is
	// the error, and those below it are not reported again.
	wrongKind := map[string]bool{}
	for _, e := range errors.Errors(err) {
		if f, _ := e.Msg(); strings.HasPrefix(f, "conflicting values %s and %s (mismatched types") {
			wrongKind[strings.Join(trimService(e.Path()), ".")] = true
		}
	}
	for _, e := range errors.Errors(err) {
		f, _ := e.Msg()
		if f == "field not allowed" && below(trimService(e.Path()), unknown) {
			continue // the unknown field above it says it all
		}
		if strings.HasPrefix(f, "incomplete value") && below(trimService(e.Path()), wrongKind) {
			continue
		}
		se, ok := e.(*specError)
		if !ok {
			se = &specError{path: trimService(e.Path())}
			se.format, se.args = e.Msg()
			se.cueFormat, se.cueArgs = se.format, se.args
			for _, p := range errors.Positions(e) {
				se.addPos(p, dir)
			}
			if len(se.spec) == 0 {
				if p := fieldPos(se.path, v, sv, dir); p.IsValid() {
					se.spec = append(se.spec, p)
				} else if p := specStart(v, dir); p.IsValid() {
					se.spec = append(se.spec, p)
				}
			}
			explain(se, e, v, schema, dir, unknown)
		} else {
			all := se.InputPositions()
			se.spec, se.schema = nil, nil
			for _, p := range all {
				se.addPos(p, dir)
			}
		}
		list = append(list, se)
	}
	var out errors.Error
	for _, se := range mergeChoices(list, schema) {
		out = errors.Append(out, se)
	}
	return out
}

// below reports whether a proper prefix of path is one of the paths in
// set (dotted).
func below(path []string, set map[string]bool) bool {
	for n := len(path) - 1; n > 0; n-- {
		if set[strings.Join(path[:n], ".")] {
			return true
		}
	}
	return false
}

// mergeChoices replaces CUE's account of a value that matches no choice
// ("N errors in empty disjunction" followed by one "conflicting values"
// per choice) and of a value that conflicts with a fixed one by a single
// error naming the spec's value and what is allowed there.
func mergeChoices(list []*specError, schema cue.Value) []*specError {
	type group struct {
		first  int
		values map[string]int // value → the number of conflicts it is in
		pos    []token.Pos
		disj   bool // CUE reported an empty disjunction
		types  bool // a conflict of types, which explain words itself
	}
	groups := map[string]*group{}
	// A choice the value fails by a bound names the value alone: with a
	// tag's value and the spec's default beside it (-t x=v on
	// *"default" | string), only the tag's value is in every one.
	bounds := map[string][]string{}
	for _, se := range list {
		if strings.HasPrefix(se.cueFormat, "invalid value %v") && len(se.cueArgs) >= 1 {
			key := strings.Join(se.path, ".")
			bounds[key] = append(bounds[key], fmt.Sprint(se.cueArgs[0]))
		}
	}
	for i, se := range list {
		if !strings.HasPrefix(se.cueFormat, "conflicting values %s and %s") && !strings.Contains(se.cueFormat, "errors in empty disjunction") {
			continue
		}
		key := strings.Join(se.path, ".")
		g := groups[key]
		if g == nil {
			g = &group{first: i, values: map[string]int{}}
			groups[key] = g
		}
		g.disj = g.disj || strings.Contains(se.cueFormat, "errors in empty disjunction")
		g.types = g.types || strings.Contains(se.cueFormat, "mismatched types")
		if strings.HasPrefix(se.cueFormat, "conflicting values") && len(se.cueArgs) >= 2 {
			g.values[fmt.Sprint(se.cueArgs[0])]++
			g.values[fmt.Sprint(se.cueArgs[1])]++
			g.pos = se.spec
		}
	}
	for key, g := range groups {
		for _, v := range bounds[key] {
			g.values[v]++
		}
		if g.disj {
			continue
		}
		// Outside a disjunction, keep CUE's words for a conflict of types
		// (explain has worded it) and for two values of the spec that
		// conflict with each other (CUE shows both positions); merge only
		// a conflict with the schema's fixed value.
		if g.types || g.values[fmt.Sprint(schemaValue(schema, list[g.first].path))] == 0 {
			delete(groups, key)
		}
	}
	var out []*specError
	for i, se := range list {
		g := groups[strings.Join(se.path, ".")]
		if g == nil {
			out = append(out, se)
			continue
		}
		if g.first != i {
			continue
		}
		// The spec's value is the one in every conflict; the choices come
		// from the schema, so none of them (the default above all, which
		// CUE names in a conflict of its own) is the spec's value.
		sv := schemaValue(schema, se.path)
		choices := map[string]bool{}
		for _, c := range disjuncts(sv) {
			choices[c] = true
		}
		var value string
		best := 0
		for val, n := range g.values {
			if choices[val] || kinds[val] {
				continue
			}
			if n > best || n == best && val < value {
				value, best = val, n
			}
		}
		printed := fmt.Sprint(sv)
		allowed := describe(schema, sv)
		m := &specError{path: se.path, spec: se.spec, schema: se.schema}
		if len(g.pos) > 0 {
			m.spec = g.pos
		}
		// A choice between a default and a named definition (#Duration |
		// *"30s") is explained by the definition.
		var name, what string
		for _, alt := range strings.Split(printed, " | ") {
			if !strings.HasPrefix(alt, "*") {
				if n, w := definitionOf(schema, alt); w != "" {
					name, what = n, w
				}
			}
		}
		switch {
		case what != "" && value != "":
			m.format, m.args = "%s is not %s (%s)", []any{value, what, name}
		case value != "" && best > 0:
			m.format, m.args = "%s is not allowed here; allowed: %s", []any{value, allowed}
		default:
			m.format, m.args = "not allowed here; allowed: %s", []any{allowed}
		}
		out = append(out, m)
	}
	return out
}

// disjuncts are the values of v's choices as CUE prints them: the
// default (also without its *) and every other choice, recursively.
func disjuncts(v cue.Value) []string {
	out := []string{fmt.Sprint(v)}
	if d, ok := v.Default(); ok {
		out = append(out, fmt.Sprint(d))
	}
	if op, args := v.Expr(); op == cue.OrOp {
		for _, a := range args {
			out = append(out, disjuncts(a)...)
		}
	}
	for _, c := range slices.Clone(out) {
		out = append(out, strings.TrimPrefix(c, "*"))
	}
	return out
}

// specStart is the start of the first file of the spec in dir, for an
// error about a field the spec leaves out at its top level.
func specStart(v cue.Value, dir string) token.Pos {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return token.NoPos
	}
	for it.Next() {
		if p, ok := posIn(it.Value(), dir, 0); ok && p.File() != nil {
			return p.File().Pos(0, token.NoRelPos)
		}
	}
	return token.NoPos
}

func (e *specError) addPos(p token.Pos, dir string) {
	if !p.IsValid() {
		return
	}
	if filepath.Dir(p.Filename()) == dir {
		e.spec = append(e.spec, p)
	} else {
		e.schema = append(e.schema, p)
	}
}

func trimService(p []string) []string {
	if len(p) > 0 && p[0] == "#Service" {
		return p[1:]
	}
	return p
}

// fieldPos finds the nearest field on path that the spec in dir writes:
// the field itself, or else its closest written parent, or else the spec
// itself (a required top-level field is missing from the file). The
// spec's own value sv is asked when v shows no position: a field whose
// unified value is an error (a name a pattern of the schema refuses) may
// have none there.
func fieldPos(path []string, v, sv cue.Value, dir string) token.Pos {
	for n := len(path); n >= 0; n-- {
		if n > 0 && strings.HasPrefix(path[n-1], "_") {
			continue
		}
		p := cuePath(path[:n])
		if p.Err() != nil {
			continue
		}
		for _, x := range []cue.Value{v, sv} {
			if pos, ok := posIn(x.LookupPath(p), dir, 0); ok {
				return pos
			}
		}
	}
	return token.NoPos
}

// cuePath turns the labels of an error path back into a cue.Path: a
// quoted label is a string label (even "" or "1abc"), digits a list
// index, #Name a definition; a hidden field cannot be named without its
// package, so its path is an error.
func cuePath(labels []string) cue.Path {
	sels := make([]cue.Selector, 0, len(labels))
	for _, l := range labels {
		switch {
		case strings.HasPrefix(l, `"`):
			u, err := literal.Unquote(l)
			if err != nil {
				return cue.ParsePath(l) // an error path
			}
			sels = append(sels, cue.Str(u))
		case l != "" && strings.Trim(l, "0123456789") == "":
			i, err := strconv.Atoi(l)
			if err != nil {
				return cue.ParsePath(l)
			}
			sels = append(sels, cue.Index(i))
		case strings.HasPrefix(l, "#"):
			sels = append(sels, cue.Def(l))
		case strings.HasPrefix(l, "_"):
			return cue.ParsePath(l) // an error path: hidden
		default:
			sels = append(sels, cue.Str(l))
		}
	}
	return cue.MakePath(sels...)
}

// explain replaces CUE's generic messages with ones that say what to do:
// a missing field says it is required and what it is (from the schema's
// doc comment); a value out of a named definition's bound says what the
// definition means; an unknown field lists the fields allowed there.
func explain(se *specError, e errors.Error, v, schema cue.Value, dir string, unknown map[string]bool) {
	format, args := e.Msg()
	path := strings.Join(se.path, ".")
	switch {
	case strings.HasPrefix(format, "incomplete value") && !writes(v, se.path, dir):
		se.format, se.args = "%s is required", []any{path}
		for n := len(se.path); n > 0; n-- {
			doc := schemaDoc(schema, se.path[:n])
			if doc == "" {
				continue
			}
			if n == len(se.path) {
				label := strings.Trim(se.path[n-1], `"`)
				for _, verb := range []string{" is ", " are "} {
					doc = strings.TrimPrefix(doc, label+verb)
				}
			}
			se.format, se.args = "%s is required: %s", []any{path, doc}
			break
		}
	case strings.HasPrefix(format, "incomplete value") && len(args) == 1:
		// The spec writes the field, but not one value: a type, bounds,
		// a choice, or a reference to something open.
		se.format, se.args = "%v is not one concrete value; write a single value", []any{args[0]}
		if doc := nearestDoc(schema, se.path); doc != "" {
			se.format += " (%s)"
			se.args = append(se.args, doc)
		}
	case strings.HasPrefix(format, "non-concrete value %v in operand to %s") && len(args) == 2:
		// An expression of the spec reads a field that has no value
		// yet (often the field itself: name: name + "x").
		se.format, se.args = "the expression here reads a value that is not known (%v) as an operand of %v: every field it reads must have a concrete value, and a field cannot be computed from itself", []any{args[0], args[1]}
	case strings.HasPrefix(format, "invalid value %") && len(args) == 2:
		bound := fmt.Sprint(args[1])
		if name, what := definitionOf(schema, bound); what != "" {
			se.format, se.args = "%v is not %s (%s)", []any{args[0], what, name}
		} else if doc := schemaDoc(schema, se.path); doc != "" {
			se.format, se.args = "%v does not satisfy %s: %s", []any{args[0], bound, doc}
		}
	case format == "field not allowed" && len(se.path) > 0:
		parent := v.LookupPath(cuePath(se.path[:len(se.path)-1]))
		label := strings.Trim(se.path[len(se.path)-1], `"`)
		var allowed []string
		if it, err := parent.Fields(cue.Optional(true)); err == nil {
			for it.Next() {
				if n := it.Selector().Unquoted(); n != label && !unknown[strings.Join(append(slices.Clone(se.path[:len(se.path)-1]), it.Selector().String()), ".")] {
					allowed = append(allowed, n)
				}
			}
		}
		slices.Sort(allowed)
		where := strings.Join(se.path[:len(se.path)-1], ".")
		if where == "" {
			where = "#Service"
		}
		alt := closest(label, allowed)
		if alt != "" && where != "#Service" {
			alt = where + "." + alt
		}
		if alt == "" {
			alt = findField(v, label, se.path, 3)
		}
		se.format, se.args = "unknown field", nil
		if alt != "" {
			se.format, se.args = "unknown field (did you mean %s?)", []any{alt}
		}
		if len(allowed) > 0 {
			se.format += "; %s has only: %s"
			se.args = append(se.args, where, strings.Join(allowed, ", "))
		}
	case strings.HasPrefix(format, "conflicting values %s and %s (mismatched types") && len(args) == 4:
		// One side is the schema's type (string, int, ...), the other the
		// spec's value.
		a, b := fmt.Sprint(args[0]), fmt.Sprint(args[1])
		if kinds[a] {
			a, b = b, a
		}
		if kinds[b] && !kinds[a] {
			se.format, se.args = "%s must be of type %s", []any{a, b}
			break
		}
		// A value where the schema wants a struct or list (or the other
		// way round): the schema's kind tells which side is which.
		want := schemaValue(schema, se.path).IncompleteKind().String()
		ka, kb := fmt.Sprint(args[2]), fmt.Sprint(args[3])
		if ka == want {
			a, ka, kb = b, kb, ka
		}
		if kb == want && ka != want {
			se.format, se.args = "%s must be of type %s, not %s", []any{a, kb, ka}
			if doc := nearestDoc(schema, se.path); doc != "" {
				se.format += " (%s)"
				se.args = append(se.args, doc)
			}
		}
	}
}

// nearestDoc is the schema's doc comment of the field at path or, when it
// has none, of its closest parent that has one.
func nearestDoc(schema cue.Value, path []string) string {
	for n := len(path); n > 0; n-- {
		if doc := schemaDoc(schema, path[:n]); doc != "" {
			return doc
		}
	}
	return ""
}

// kinds are the type names CUE prints for a schema's bare type.
var kinds = map[string]bool{"string": true, "int": true, "float": true, "number": true, "bool": true,
	"bytes": true, "struct": true, "list": true}

// writes reports whether the spec in dir writes the field at path.
func writes(v cue.Value, path []string, dir string) bool {
	p := cuePath(path)
	if p.Err() != nil {
		return false
	}
	_, ok := posIn(v.LookupPath(p), dir, 0)
	return ok
}

// schemaDoc is the doc comment the schema gives the field at path, as one
// line, or "" when it has none. It reads #Service, not the unified value,
// so an author's comment is not taken for the schema's, and it follows
// pattern constraints (the value of every env.<NAME>) through AnyString.
func schemaDoc(schema cue.Value, path []string) string {
	x := schemaValue(schema, path)
	if !x.Exists() {
		return ""
	}
	var words []string
	for _, cg := range x.Doc() {
		words = append(words, strings.Fields(cg.Text())...)
	}
	return strings.TrimSuffix(strings.Join(words, " "), ".")
}

// schemaValue is the value #Service gives the field at path, following
// pattern constraints through AnyString; it does not exist when the
// schema has no such field.
func schemaValue(schema cue.Value, path []string) cue.Value {
	x := schema.LookupPath(cue.ParsePath("#Service"))
	for _, label := range path {
		p := cuePath([]string{label})
		if p.Err() != nil {
			return cue.Value{}
		}
		if next := x.LookupPath(p); next.Exists() {
			x = next
			continue
		}
		if next := x.LookupPath(cue.MakePath(cue.AnyString)); next.Exists() {
			x = next
			continue
		}
		return cue.Value{}
	}
	return x
}

// definitionOf finds the schema definition (#AbsPath, #Quantity, ...)
// one of whose constraints is bound, and returns its name and what its
// doc comment says it is ("#AbsPath is an absolute, clean path ..."
// gives "an absolute, clean path ..."), so a failed pattern is explained
// in words rather than as a regular expression only.
func definitionOf(schema cue.Value, bound string) (name, what string) {
	it, err := schema.Fields(cue.Definitions(true))
	if err != nil {
		return "", ""
	}
	for it.Next() {
		d := it.Value()
		name := it.Selector().String()
		if d.IncompleteKind() == cue.StructKind || !slices.Contains(conjuncts(d), bound) {
			continue
		}
		var doc []string
		for _, cg := range d.Doc() {
			doc = append(doc, strings.Fields(cg.Text())...)
		}
		text := strings.Join(doc, " ")
		text, ok := strings.CutPrefix(text, name+" is ")
		if !ok {
			return name, ""
		}
		if i := strings.IndexAny(text, ".;:("); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		return name, text
	}
	return "", ""
}

// conjuncts are the constraints of v as CUE prints them: v itself and,
// for a conjunction, each of its parts.
func conjuncts(v cue.Value) []string {
	out := []string{fmt.Sprint(v)}
	if op, args := v.Expr(); op == cue.AndOp {
		for _, a := range args {
			out = append(out, conjuncts(a)...)
		}
	}
	return out
}

// closest is the allowed field a misspelt label most likely meant: the
// nearest by edit distance (case aside, a swap of two neighbours counting
// as one edit), when it is at most a third of the label's length away
// (one edit for short labels, at most two); "" when none is that close.
func closest(label string, allowed []string) string {
	limit := min(2, max(1, len([]rune(label))/3))
	best, bestD := "", limit+1
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(label), strings.ToLower(a)); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent runes.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}

// findField looks for a field named label elsewhere in the spec's schema
// (down to depth levels), so an unknown field that belongs somewhere else
// can be pointed there ("replicas" → "workload.replicas").
func findField(v cue.Value, label string, not []string, depth int) string {
	var found string
	var walk func(cue.Value, []string)
	walk = func(x cue.Value, at []string) {
		if found != "" || len(at) >= depth {
			return
		}
		it, err := x.Fields(cue.Optional(true))
		if err != nil {
			return
		}
		for it.Next() {
			sel := it.Selector()
			p := append(slices.Clone(at), sel.String())
			if sel.Unquoted() == label && !slices.Equal(p, not) {
				found = strings.Join(p, ".")
				return
			}
			if sel.LabelType() == cue.StringLabel {
				walk(it.Value(), p)
			}
		}
	}
	walk(v, nil)
	return found
}

// Details formats every error in err, one per line, with positions
// relative to cwd, sorted in the order of the spec. An error that points
// into the spec shows only those positions; one that cannot (a missing
// field of an embedded spec, say) shows the schema's, where positions in
// the embedded module print as "embedded:cue/...", the same files as the
// repository's cue/ folder.
func Details(err error, cwd string) string { return details(err, cwd, false) }

// DetailsVerbose is Details with the schema's positions of every error
// too, for debugging the schema itself (lighthouse-gen --verbose).
func DetailsVerbose(err error, cwd string) string { return details(err, cwd, true) }

func details(err error, cwd string, verbose bool) string {
	var list errors.Error
	for _, e := range errors.Errors(err) {
		if se, ok := e.(*specError); ok {
			e = shown{se, verbose}
		}
		list = errors.Append(list, e)
	}
	out := errors.Details(list, &errors.Config{Cwd: cwd, ToSlash: true})
	if rel, rerr := filepath.Rel(cwd, EmbeddedRoot); rerr == nil && cwd != "" {
		out = strings.ReplaceAll(out, filepath.ToSlash(rel)+"/", "embedded:cue/")
	}
	return strings.ReplaceAll(out, EmbeddedRoot+"/", "embedded:cue/")
}

// Where formats the spec position of a field ("env.FOO", see Pos) as
// "file:line:col" relative to cwd, the embedded spec as "embedded:cue/...",
// so findings about artifacts can name the spec line they disagree with.
// A field the spec leaves out points at its nearest written parent, or at
// the spec's name.
func (s *Service) Where(path, cwd string) string {
	p := cue.ParsePath(path)
	for sels := p.Selectors(); p.Err() == nil && len(sels) > 0; sels = sels[:len(sels)-1] {
		if pos := s.Pos(cue.MakePath(sels...).String()); pos.IsValid() {
			return PosString(pos, cwd)
		}
	}
	return PosString(s.Pos("name"), cwd)
}

// PosString formats a position like Details does; "spec" when unknown.
func PosString(pos token.Pos, cwd string) string {
	if !pos.IsValid() {
		return "spec"
	}
	file := pos.Filename()
	switch {
	case strings.HasPrefix(file, EmbeddedRoot+"/"):
		file = "embedded:cue/" + strings.TrimPrefix(file, EmbeddedRoot+"/")
	case cwd != "" && filepath.IsAbs(file):
		if rel, err := filepath.Rel(cwd, file); err == nil {
			file = rel
		}
	}
	return fmt.Sprintf("%s:%d:%d", filepath.ToSlash(file), pos.Line(), pos.Column())
}

// checkSpecDir says what to do when the spec folder given as name (abs
// is its absolute path) does not exist, is not a folder, holds no CUE file
// or holds a .cue name that is not a regular file (checkSpecFiles),
// instead of CUE's words for a package pattern ("cannot find package",
// "matched no packages") or a load that never ends.
func checkSpecDir(name, abs string) error {
	fi, err := os.Stat(abs)
	switch {
	case stderrors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("spec folder %s does not exist; --spec takes the folder that holds the spec's .cue files", name)
	case err != nil:
		return fmt.Errorf("spec folder %s: %w", name, unwrapPath(err))
	case fi.Mode().IsRegular():
		return fmt.Errorf("spec folder %s is a file; --spec takes the folder that holds it: --spec %s", name, filepath.Dir(name))
	case !fi.IsDir():
		return fmt.Errorf("spec folder %s is %s, not a folder; --spec takes the folder that holds the spec's .cue files", name, kindOf(fi.Mode()))
	}
	entries, err := newSpecFS(name, abs).ReadDir(strings.TrimPrefix(abs, "/"))
	if err != nil {
		return fmt.Errorf("spec folder %s cannot be read: %w", name, unwrapPath(err))
	}
	if err := checkSpecFiles(name, abs, entries); err != nil {
		return err
	}
	if !slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return strings.HasSuffix(e.Name(), ".cue") }) {
		return fmt.Errorf("spec folder %s has no .cue file; write the spec there (the README's \"Spec fields\" lists them) or pass --spec the folder that holds it", name)
	}
	return nil
}

// loadError rewrites CUE's errors of loading the spec package (arg in
// cfg, which has no tags) into ones that say what to do: a tag without
// a value or one the spec does not declare names the spec's tags, and a
// spec outside the cue/ module that imports the schema is told to write
// the fields without it. dir is the spec's folder.
func loadError(err error, cfg *load.Config, arg, dir string, tags []string) error {
	var out errors.Error
	brackets := map[string]bool{} // files whose open bracket is reported
	for _, e := range errors.Errors(err) {
		format, args := e.Msg()
		if isSyntaxError(format) && cfg.FS != nil {
			// The parser's errors after a bracket left open are echoes
			// of it, the one at the end of the file above all ("expected
			// '}', found 'EOF'"): the bracket is named instead, before
			// the parser's first error, which is kept when it is not at
			// the end.
			file := e.Position().Filename()
			if done, seen := brackets[file]; seen {
				if done {
					continue
				}
			} else if src, rerr := fs.ReadFile(cfg.FS, strings.TrimPrefix(file, "/")); rerr == nil {
				b, ok := unclosed(file, src)
				brackets[file] = ok
				if ok {
					se := unclosedError(b)
					se.addPos(b.pos, dir)
					out = errors.Append(out, se)
					if len(args) == 2 && fmt.Sprint(args[1]) == "EOF" {
						continue
					}
				}
			}
		}
		var multi *load.MultiplePackageError
		var none *load.NoFilesError
		switch {
		case stderrors.As(e, &multi) && len(multi.Packages) >= 2 && len(multi.Files) >= 2:
			se := &specError{format: "spec folder %s holds two CUE packages, %s (%s) and %s (%s): a spec is one package; give every .cue file in it the same package clause, or move the other file out",
				args: []any{specName(cfg, dir), multi.Packages[0], multi.Files[0], multi.Packages[1], multi.Files[1]}}
			for _, f := range multi.Files[:2] {
				se.addPos(packagePos(cfg, filepath.Join(dir, f)), dir)
			}
			e = se
		case stderrors.As(e, &none) && none.Package != nil && len(none.Package.IgnoredFiles) > 0:
			se := &specError{format: "spec folder %s holds no CUE package: %s %s no package clause (an empty file has none either); a spec file starts with a package clause, such as package web, followed by the spec's fields"}
			var names []string
			for _, f := range none.Package.IgnoredFiles {
				names = append(names, filepath.Base(f.Filename))
				se.addPos(token.NewFile(f.Filename, -1, 0).Pos(0, token.NoRelPos), dir)
			}
			se.args = []any{specName(cfg, dir), strings.Join(names, ", "), map[bool]string{true: "has", false: "have"}[len(names) == 1]}
			e = se
		case format == "expected %s, found '%s'" && len(args) == 2 && fmt.Sprint(args[0]) == "'EOF'" && strings.Contains("}])", fmt.Sprint(args[1])):
			// The parser means the file should end: a closing bracket
			// with nothing open.
			se := &specError{format: "this %q closes nothing (every bracket before it is closed already): remove it", args: []any{fmt.Sprint(args[1])}}
			se.addPos(e.Position(), dir)
			e = se
		case (format == "invalid number for injection tag %q" || format == "invalid boolean %q for injection tag %q" || format == "invalid int %q for injection tag %q") && len(args) >= 1:
			// A tag whose attribute has a type (@tag(n,type=int)).
			name := fmt.Sprint(args[len(args)-1])
			pos, typ := tagPos(cfg, arg, name)
			want := map[string]string{"int": "an integer", "number": "a number", "float": "a number", "bool": "true or false"}[typ]
			if want == "" {
				want = "a " + typ
			}
			given := name + "=..."
			for _, t := range tags {
				if k, _, _ := strings.Cut(t, "="); k == name {
					given = t
				}
			}
			se := &specError{format: "-t %s: the spec's @tag(%s) takes %s", args: []any{given, name, want}}
			se.addPos(pos, dir)
			e = se
		case format == "tag %q not used in any file" && len(args) == 1:
			name := fmt.Sprint(args[0])
			e = errors.Newf(token.NoPos, "-t %s has no value; write -t %s=VALUE (the spec's tags: %s)", name, name, specTags(cfg, arg))
		case format == "no tag for %q" && len(args) == 1:
			name := fmt.Sprint(args[0])
			e = errors.Newf(token.NoPos, "-t %s=...: no tag for %q in the spec; its tags: %s (each declared by a field's @tag(name))", name, name, specTags(cfg, arg))
		case strings.Contains(e.Error(), "imports are unavailable because there is no cue.mod/module.cue file"):
			// CUE's error names the import's position, not its path.
			se := &specError{format: "%s is outside lighthouse's CUE module (cue/) and cannot import the schema: remove the import of the schema and the line schema.#Service; lighthouse-gen unifies the spec with #Service itself",
				args: []any{filepath.Base(dir)}}
			for _, p := range errors.Positions(e) {
				se.addPos(p, dir)
				if imp := importAt(cfg, p); imp != "" && imp != schemaImportPath() {
					se.format, se.args = "%s imports %s, which a spec outside a CUE module cannot import (only CUE's standard library, such as strings or list): remove the import and write what the spec needs from it", []any{filepath.Base(p.Filename()), imp}
				}
			}
			e = se
		}
		out = errors.Append(out, e)
	}
	return out
}

// specTags lists the tags the spec package arg in cfg declares with
// @tag(name), sorted, or "none".
func specTags(cfg *load.Config, arg string) string {
	var names []string
	for _, inst := range load.Instances([]string{arg}, cfg) {
		for _, f := range inst.Files {
			ast.Walk(f, func(n ast.Node) bool {
				if a, ok := n.(*ast.Attribute); ok {
					if key, body := a.Split(); key == "tag" {
						name, _, _ := strings.Cut(body, ",")
						if name = strings.TrimSpace(name); name != "" && !slices.Contains(names, name) {
							names = append(names, name)
						}
					}
				}
				return true
			}, nil)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// importAt is the path of the import declared at pos, read again from
// the file through cfg's file system; "" when there is none.
func importAt(cfg *load.Config, pos token.Pos) string {
	if !pos.IsValid() || cfg.FS == nil {
		return ""
	}
	src, err := fs.ReadFile(cfg.FS, strings.TrimPrefix(pos.Filename(), "/"))
	if err != nil {
		return ""
	}
	f, err := parser.ParseFile(pos.Filename(), src, parser.ImportsOnly)
	if err != nil {
		return ""
	}
	for spec := range f.ImportSpecs() {
		if spec.Path == nil {
			continue
		}
		at := spec.Pos()
		if spec.Name != nil {
			at = spec.Path.Pos() // CUE points at the path of an aliased import
		}
		if at.Line() == pos.Line() && (at.Column() == pos.Column() || spec.Path.Pos().Column() == pos.Column()) {
			if p, err := literal.Unquote(spec.Path.Value); err == nil {
				return ast.ParseImportPath(p).Path
			}
		}
	}
	return ""
}

// schemaImportPath is the import path of the embedded schema package
// (its module's path, from cue.mod/module.cue, and SchemaDir), without
// a major version.
func schemaImportPath() string {
	b, err := fs.ReadFile(cuemod.FS, "cue.mod/module.cue")
	if err != nil {
		return ""
	}
	v := cuecontext.New().CompileBytes(b)
	mod, err := v.LookupPath(cue.ParsePath("module")).String()
	if err != nil {
		return ""
	}
	return ast.ParseImportPath(mod).Path + "/" + cuemod.SchemaDir
}

// isSyntaxError reports whether a load error's format is one of CUE's
// parser's about brackets and separators.
func isSyntaxError(format string) bool {
	return strings.HasPrefix(format, "expected ") || strings.HasPrefix(format, "missing ',' in ")
}

// specName is the spec folder dir as the user named it, when cfg's file
// system knows (specFS), else dir.
func specName(cfg *load.Config, dir string) string {
	if f, ok := cfg.FS.(*specFS); ok {
		return f.dir
	}
	return dir
}

// checkOrphans refuses a file of the spec folder that CUE leaves out of
// the spec because it has no package clause, when it holds more than
// comments: its fields would be dropped without a word. inst is the
// spec's package, fsys the file system it was read through.
func checkOrphans(inst *build.Instance, fsys *specFS) error {
	var errs errors.Error
	for _, f := range inst.IgnoredFiles {
		base := filepath.Base(f.Filename)
		if strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".") || !strings.Contains(fmt.Sprint(f.ExcludeReason), "no package name") {
			continue
		}
		src, err := fsys.ReadFile(strings.TrimPrefix(f.Filename, "/"))
		if err != nil {
			return err
		}
		file, err := parser.ParseFile(f.Filename, src)
		if err != nil || len(file.Decls) == 0 {
			continue // a syntax error is CUE's to report; no declaration, nothing lost
		}
		pkg := inst.PkgName
		if pkg == "" {
			pkg = "<name>"
		}
		se := &specError{format: "%s has no package clause, so CUE leaves it out of the spec and its fields are not read: start it with package %s, as the spec's other files", args: []any{base, pkg}}
		se.addPos(file.Decls[0].Pos(), fsys.abs)
		errs = errors.Append(errs, se)
	}
	if errs == nil {
		return nil
	}
	return errs
}

// packagePos is the position of the package clause of the file at path,
// read through cfg's file system; the file's start when it has none.
func packagePos(cfg *load.Config, path string) token.Pos {
	start := token.NewFile(path, -1, 0).Pos(0, token.NoRelPos)
	if cfg.FS == nil {
		return start
	}
	src, err := fs.ReadFile(cfg.FS, strings.TrimPrefix(path, "/"))
	if err != nil {
		return start
	}
	f, err := parser.ParseFile(path, src, parser.PackageClauseOnly)
	if err != nil {
		return start
	}
	for _, d := range f.Decls {
		if p, ok := d.(*ast.Package); ok {
			return p.Pos()
		}
	}
	return start
}

// tagPos is the position of the @tag(name) attribute in the spec package
// arg of cfg (which has no tags), NoPos when there is none, and the type
// it declares (type=int; string when it declares none).
func tagPos(cfg *load.Config, arg, name string) (pos token.Pos, typ string) {
	typ = "string"
	for _, inst := range load.Instances([]string{arg}, cfg) {
		for _, f := range inst.Files {
			ast.Walk(f, func(n ast.Node) bool {
				if a, ok := n.(*ast.Attribute); ok && !pos.IsValid() {
					if key, body := a.Split(); key == "tag" {
						parts := strings.Split(body, ",")
						if strings.TrimSpace(parts[0]) == name {
							pos = a.Pos()
							for _, p := range parts[1:] {
								if t, ok := strings.CutPrefix(strings.TrimSpace(p), "type="); ok {
									typ = t
								}
							}
						}
					}
				}
				return !pos.IsValid()
			}, nil)
		}
	}
	return pos, typ
}
