package spec

import (
	"fmt"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// specError adds to a CUE error the position in the spec of the field it
// is about, so an error raised by a schema rule still points at the line
// the author must change; its path drops the #Service prefix.
type specError struct {
	err errors.Error
	at  token.Pos
}

func (e *specError) Position() token.Pos              { return e.err.Position() }
func (e *specError) Error() string                    { return e.err.Error() }
func (e *specError) Msg() (format string, args []any) { return e.err.Msg() }
func (e *specError) Unwrap() error                    { return errors.Unwrap(e.err) }

func (e *specError) InputPositions() []token.Pos {
	return append([]token.Pos{e.at}, e.err.InputPositions()...)
}

func (e *specError) Path() []string {
	p := e.err.Path()
	if len(p) > 0 && p[0] == "#Service" {
		return p[1:]
	}
	return p
}

// annotate rewrites every error of err with the spec position of its path.
func annotate(err error, v cue.Value, dir string) error {
	var out errors.Error
	for _, e := range errors.Errors(err) {
		out = errors.Append(out, &specError{err: e, at: fieldPos(e, v, dir)})
	}
	return out
}

// fieldPos finds the nearest field on the error's path that the spec in
// dir writes: the field itself, or else its closest written parent.
func fieldPos(e errors.Error, v cue.Value, dir string) token.Pos {
	for _, p := range errors.Positions(e) {
		if filepath.Dir(p.Filename()) == dir {
			return token.NoPos // already points into the spec
		}
	}
	path := e.Path()
	if len(path) > 0 && path[0] == "#Service" {
		path = path[1:]
	}
	for n := len(path); n > 0; n-- {
		sels := make([]string, 0, n)
		hidden := false
		for _, s := range path[:n] {
			if strings.HasPrefix(s, "_") {
				hidden = true
			}
			sels = append(sels, quoteLabel(strings.Trim(s, `"`)))
		}
		if hidden {
			continue
		}
		p := cue.ParsePath(strings.Join(sels, "."))
		if p.Err() != nil {
			continue
		}
		if pos, ok := posIn(v.LookupPath(p), dir, 0); ok {
			return pos
		}
	}
	return token.NoPos
}

// Details formats every error in err, one per line with its positions
// relative to cwd. Positions in the embedded module print as
// "embedded:cue/...", the same files as the repository's cue/ folder.
func Details(err error, cwd string) string {
	out := errors.Details(err, &errors.Config{Cwd: cwd, ToSlash: true})
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
