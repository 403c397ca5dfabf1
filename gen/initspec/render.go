package initspec

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// starter is the spec init writes, a CUE file whose string literals
// "@key@" are placeholders for Values. Adding a field is one edit here:
// a constant one needs nothing else, a derived one a Values field and its
// key in Values.placeholders.
//
//go:embed starter.cue.tmpl
var starter []byte

// Values are what the starter spec takes from the module.
type Values struct {
	// Name is the service name, a DNS label (CheckName).
	Name string
	// Description is one line.
	Description string
	// Package is the main package relative to the module root, "./...".
	Package string
	// Binary is the binary's file name.
	Binary string
	// Builder is the Go builder image.
	Builder string
}

// placeholders maps each "@key@" of the template to its value.
func (v Values) placeholders() map[string]string {
	return map[string]string{
		"name":        v.Name,
		"description": v.Description,
		"package":     v.Package,
		"binary":      v.Binary,
		"builder":     v.Builder,
	}
}

// binaryRE is the file name of the binary in /usr/local/bin; the README's
// entry.binary: a lower-case start, then letters, digits, dots, dashes and
// underscores (Binary is Name unless the caller says otherwise).
var binaryRE = regexp.MustCompile(`^[a-z][a-z0-9._-]*$`)

// placeholderRE matches a placeholder's unquoted value.
var placeholderRE = regexp.MustCompile(`^@([a-z]+)@$`)

// validate refuses values the written spec could not vet with: the
// name and binary are interpolated and used as file names; every value is
// a CUE string, so it must be one line of UTF-8 (the starter's strings
// are single-line fields).
func (v Values) validate() error {
	if err := CheckName(v.Name); err != nil {
		return err
	}
	if !binaryRE.MatchString(v.Binary) {
		return fmt.Errorf("binary name %s: want %s", show(v.Binary), binaryRE)
	}
	if !strings.HasPrefix(v.Package, "./") {
		return fmt.Errorf("package %s: want a path relative to the module root, starting with ./", show(v.Package))
	}
	for k, s := range v.placeholders() {
		if s == "" {
			return fmt.Errorf("the starter spec's %s is empty", k)
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") {
			return fmt.Errorf("the starter spec's %s %s is not one line of UTF-8", k, show(s))
		}
	}
	return nil
}

// Render is the starter spec for v, formatted by cue/format. Each value
// replaces its placeholder as a string literal quoted by CUE's own
// literal package, so it is data whatever it holds.
func Render(v Values) ([]byte, error) {
	if err := v.validate(); err != nil {
		return nil, err
	}
	f, err := parser.ParseFile("starter.cue.tmpl", starter, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("starter template: %w", err)
	}
	vals := v.placeholders()
	used := map[string]bool{}
	var bad []string
	astutil.Apply(f, func(c astutil.Cursor) bool {
		lit, ok := c.Node().(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := literal.Unquote(lit.Value)
		if err != nil {
			return true
		}
		m := placeholderRE.FindStringSubmatch(s)
		if m == nil {
			return true
		}
		val, ok := vals[m[1]]
		if !ok {
			bad = append(bad, m[0])
			return true
		}
		used[m[1]] = true
		n := ast.NewString(val)
		ast.SetComments(n, ast.Comments(lit))
		c.Replace(n)
		return true
	}, nil)
	for k := range vals {
		if !used[k] {
			bad = append(bad, "@"+k+"@ (unused)")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("starter template: placeholders without a value or value without a placeholder: %s", strings.Join(bad, ", "))
	}
	return format.Node(f)
}
