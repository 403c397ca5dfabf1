// Package casetest reads the test cases of gen/check and golden/audit: txtar
// files that hold only what a case changes in the artifacts a spec gives,
// and what the checks must say about the result.
//
// A case is laid over a base the harness generates from the spec (the
// case's spec/ files, or the embedded bridge spec), so a case does not go
// stale when the emitters change: a patch whose lines are no longer in
// the base is an error, never a silent no-op. Sections:
//
//	spec/<file>         the spec folder (default: the embedded bridge spec)
//	tags                -t key=value lines, for the base and the audit
//	base-tags           tags for generating the base only (a stale file)
//	header              how the generated headers end up: a default mode,
//	                    then "<file>: <mode>" lines; modes are none (the
//	                    header removed: a hand-written file), stamped (the
//	                    body digest recomputed after the change: a
//	                    generated file) and kept (as generated, so a change
//	                    makes the file hand-edited)
//	delete              artifact names to remove
//	<artifact>          the artifact's whole contents
//	<artifact>.patch    hunks applied to the base (see Patch)
//	src/<file>          a Go module built as the entry binary
//	expect              rules at least one finding must have, one a line
//	findings.txt        the expected findings, one a line
//
// Materialize lays a case out as a folder a person can run the CLI on.
package casetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/lighthouse-project/lighthouse/gen/build"
	"github.com/lighthouse-project/lighthouse/gen/emit"
)

// Version is stamped into the base's headers, so findings do not change
// with releases.
const Version = "golden"

// Header modes.
const (
	HeaderNone    = "none"
	HeaderStamped = "stamped"
	HeaderKept    = "kept"
)

// Case is one parsed case file.
type Case struct {
	Path    string
	Name    string
	Comment string
	archive *txtar.Archive

	Spec     map[string][]byte // spec/ files by name
	Src      map[string][]byte // src/ files by path below src/
	Tags     []string
	BaseTags []string
	Header   map[string]string // per artifact; "" is the default
	Delete   []string
	Replace  map[string][]byte
	Patches  map[string][]byte
	Expect   []string
	Want     []byte // findings.txt; nil when the section is missing
}

// Load reads a case file. Unknown sections are errors, so a typo in a
// section name cannot make a case check nothing.
func Load(path string) (*Case, error) {
	a, err := txtar.ParseFile(path)
	if err != nil {
		return nil, err
	}
	c := &Case{
		Path: path, Name: strings.TrimSuffix(filepath.Base(path), ".txtar"), Comment: string(a.Comment), archive: a,
		Spec: map[string][]byte{}, Src: map[string][]byte{}, Header: map[string]string{},
		Replace: map[string][]byte{}, Patches: map[string][]byte{},
	}
	for _, f := range a.Files {
		switch name := f.Name; {
		case strings.HasPrefix(name, "spec/"):
			c.Spec[strings.TrimPrefix(name, "spec/")] = f.Data
		case strings.HasPrefix(name, "src/"):
			c.Src[strings.TrimPrefix(name, "src/")] = f.Data
		case name == "tags":
			c.Tags = strings.Fields(string(f.Data))
		case name == "base-tags":
			c.BaseTags = strings.Fields(string(f.Data))
		case name == "header":
			if err := c.parseHeader(f.Data); err != nil {
				return nil, fmt.Errorf("%s: header: %w", path, err)
			}
		case name == "delete":
			c.Delete = strings.Fields(string(f.Data))
		case name == "expect":
			c.Expect = strings.Fields(string(f.Data))
		case name == "findings.txt":
			c.Want = f.Data
		case slices.Contains(emit.Names, name):
			c.Replace[name] = f.Data
		case strings.HasSuffix(name, ".patch") && slices.Contains(emit.Names, strings.TrimSuffix(name, ".patch")):
			c.Patches[strings.TrimSuffix(name, ".patch")] = f.Data
		default:
			return nil, fmt.Errorf("%s: unknown section %q", path, name)
		}
	}
	for _, d := range c.Delete {
		if !slices.Contains(emit.Names, d) {
			return nil, fmt.Errorf("%s: delete: %q is not an artifact (%v)", path, d, emit.Names)
		}
	}
	return c, nil
}

func (c *Case) parseHeader(data []byte) error {
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		file, mode, ok := strings.Cut(l, ":")
		if !ok {
			file, mode = "", l
		}
		file, mode = strings.TrimSpace(file), strings.TrimSpace(mode)
		if mode != HeaderNone && mode != HeaderStamped && mode != HeaderKept {
			return fmt.Errorf("mode %q is none of none, stamped, kept", mode)
		}
		if file != "" && !slices.Contains(emit.Names, file) {
			return fmt.Errorf("%q is not an artifact", file)
		}
		c.Header[file] = mode
	}
	return nil
}

// Layout is where Materialize put a case: Root holds go.mod (so the Go
// module root, the default build context, is Root), Out the artifacts,
// Spec the spec folder ("" for the embedded spec), Src the entry's Go
// module ("" when the case has none).
type Layout struct {
	Root, Out, Spec, Src string
}

// OutDir is the folder below the root that holds the artifacts.
const OutDir = "deploy"

// Materialize writes the case into root: the base generated from the spec
// with BaseTags (or Tags), changed as the case says, each artifact's
// header in the case's mode (defaultHeader when the case names none).
// It returns the artifacts as written too.
func (c *Case) Materialize(root, defaultHeader string) (Layout, map[string][]byte, error) {
	l := Layout{Root: root, Out: filepath.Join(root, OutDir)}
	if err := os.MkdirAll(l.Out, 0o755); err != nil {
		return l, nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/"+c.Name+"\n\ngo 1.26\n"), 0o644); err != nil {
		return l, nil, err
	}
	if len(c.Spec) > 0 {
		l.Spec = filepath.Join(root, "spec")
		if err := writeAll(l.Spec, c.Spec); err != nil {
			return l, nil, err
		}
	}
	if len(c.Src) > 0 {
		l.Src = filepath.Join(root, "src")
		if err := writeAll(l.Src, c.Src); err != nil {
			return l, nil, err
		}
	}
	base, err := c.base(l, root)
	if err != nil {
		return l, nil, err
	}
	files := map[string][]byte{}
	for _, f := range base {
		if slices.Contains(c.Delete, f.Name) {
			continue
		}
		data := f.Data
		if r, ok := c.Replace[f.Name]; ok {
			data = r
		}
		if p, ok := c.Patches[f.Name]; ok {
			if data, err = Patch(data, p); err != nil {
				return l, nil, fmt.Errorf("%s.patch: %w", f.Name, err)
			}
		}
		mode := c.Header[f.Name]
		if mode == "" {
			mode = c.Header[""]
		}
		if mode == "" {
			mode = defaultHeader
		}
		if _, ok := c.Replace[f.Name]; !ok {
			data = withHeader(data, mode, f.Name == emit.Script)
		}
		files[f.Name] = data
		if err := os.WriteFile(filepath.Join(l.Out, f.Name), data, f.Mode); err != nil {
			return l, nil, err
		}
	}
	return l, files, nil
}

// bases holds the bases generated so far, by spec and tags: generating
// one means loading the spec, the slow part of a case, and every case
// lays its base out alike (deploy/ in its root), so equal specs give
// equal bases.
var bases sync.Map

// base generates the case's base from its spec and base tags, once per
// distinct spec and tags in a test binary.
func (c *Case) base(l Layout, root string) ([]build.File, error) {
	tags := c.Tags
	if c.BaseTags != nil {
		tags = c.BaseTags
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(c.Spec)) {
		fmt.Fprintf(h, "%s\x00%d\x00%s", name, len(c.Spec[name]), c.Spec[name])
	}
	fmt.Fprintf(h, "\x00%q", tags)
	key := string(h.Sum(nil))
	if b, ok := bases.Load(key); ok {
		return b.([]build.File), nil
	}
	_, base, err := build.Generate(build.Options{Spec: l.Spec, Tags: tags, Out: l.Out, Context: root, Version: Version})
	if err != nil {
		return nil, fmt.Errorf("generating the base: %w", err)
	}
	bases.Store(key, base)
	return base, nil
}

// withHeader leaves a file's generated header as the mode says.
func withHeader(data []byte, mode string, script bool) []byte {
	h, body, _, err := emit.ParseHeader(data)
	if err != nil {
		return data // no header (a patch removed it): nothing to do
	}
	switch mode {
	case HeaderNone:
		return body
	case HeaderStamped:
		return emit.AddHeader(body, h.Version, h.Source, h.SpecDigest, script)
	}
	return data
}

func writeAll(dir string, files map[string][]byte) error {
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// SetWant replaces the case's findings.txt and rewrites the case file
// (LIGHTHOUSE_UPDATE=1).
func (c *Case) SetWant(want []byte) error {
	c.Want = want
	found := false
	for i, f := range c.archive.Files {
		if f.Name == "findings.txt" {
			c.archive.Files[i].Data, found = want, true
		}
	}
	if !found {
		c.archive.Files = append(c.archive.Files, txtar.File{Name: "findings.txt", Data: want})
	}
	return os.WriteFile(c.Path, txtar.Format(c.archive), 0o644)
}

// Patch applies hunks to base. A patch is hunks separated by lines
// starting with "@@" (the rest of that line is a comment); in a hunk a
// line starting with " " is context, "-" a line removed, "+" a line
// added, and an empty line is an empty context line. The context and
// removed lines, in order, must occur exactly once in base as whole
// consecutive lines: an edit that no longer applies, or could apply in two
// places, is an error.
func Patch(base, patch []byte) ([]byte, error) {
	lines := splitLines(base)
	for i, h := range hunks(patch) {
		var old, new []string
		for _, l := range h {
			switch {
			case l == "":
				old, new = append(old, ""), append(new, "")
			case l[0] == ' ':
				old, new = append(old, l[1:]), append(new, l[1:])
			case l[0] == '-':
				old = append(old, l[1:])
			case l[0] == '+':
				new = append(new, l[1:])
			default:
				return nil, fmt.Errorf("hunk %d: line %q starts with none of ' ', '-', '+'", i+1, l)
			}
		}
		if len(old) == 0 {
			return nil, fmt.Errorf("hunk %d has no context or removed line: it cannot be placed", i+1)
		}
		at := -1
		for j := 0; j+len(old) <= len(lines); j++ {
			if slices.Equal(lines[j:j+len(old)], old) {
				if at >= 0 {
					return nil, fmt.Errorf("hunk %d matches at lines %d and %d: add context", i+1, at+1, j+1)
				}
				at = j
			}
		}
		if at < 0 {
			return nil, fmt.Errorf("hunk %d does not apply: these lines are not in the base:\n%s", i+1, strings.Join(old, "\n"))
		}
		lines = slices.Concat(lines[:at], new, lines[at+len(old):])
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.Bytes(), nil
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// hunks splits a patch at its "@@" lines; lines before the first are a
// hunk too.
func hunks(patch []byte) [][]string {
	var out [][]string
	var cur []string
	started := false
	for _, l := range splitLines(patch) {
		if strings.HasPrefix(l, "@@") {
			if started || len(cur) > 0 {
				out = append(out, cur)
			}
			cur, started = nil, true
			continue
		}
		cur = append(cur, l)
	}
	if started || len(cur) > 0 {
		out = append(out, trimTrailingEmpty(cur))
	}
	for i := range out {
		out[i] = trimTrailingEmpty(out[i])
	}
	return out
}

// trimTrailingEmpty drops empty lines at the end of a hunk, which only
// separate hunks.
func trimTrailingEmpty(h []string) []string {
	for len(h) > 0 && h[len(h)-1] == "" {
		h = h[:len(h)-1]
	}
	return h
}
