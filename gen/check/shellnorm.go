package check

import (
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// canonicalShell prints a parsed shell node as one canonical line: the
// spellings of a word that the shell reads as one value ('a', "a", a,
// a\b...) print as one quoting chosen by syntax.Quote, $X prints as ${X},
// and layout and comments are gone. Two commands the shell runs alike
// print alike; anything else prints differently. The node is changed.
func canonicalShell(n syntax.Node) string {
	var braces func(syntax.Node) bool
	braces = func(n syntax.Node) bool {
		if pe, ok := n.(*syntax.ParamExp); ok && pe.Param != nil && !pe.Excl && !pe.Length && !pe.Width &&
			pe.Index == nil && pe.Slice == nil && pe.Repl == nil && pe.Names == 0 {
			pe.Short = false
		}
		return true
	}
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.DblQuoted:
			// Inside double quotes a backslash or a quote means something
			// else: words there keep their spelling.
			syntax.Walk(n, braces)
			return false
		case *syntax.Word:
			canonicalWord(n)
		}
		return braces(n)
	})
	var b strings.Builder
	if err := syntax.NewPrinter(syntax.SingleLine(true)).Print(&b, n); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}

// printShell prints a node as written (layout normalized, words as
// written), for messages.
func printShell(n syntax.Node) string {
	var b strings.Builder
	if err := syntax.NewPrinter(syntax.SingleLine(true)).Print(&b, n); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}

// canonicalWord replaces a word made only of literal text (plain,
// single- or double-quoted, escaped) by one literal of its value, quoted
// by syntax.Quote. A word with an expansion keeps its parts.
func canonicalWord(w *syntax.Word) {
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			if strings.Contains(p.Value, "~") {
				return // a tilde may expand: keep the word as written
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				return // $'...' is bash's, with escapes of its own
			}
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if _, ok := q.(*syntax.Lit); !ok {
					return
				}
			}
		default:
			return
		}
	}
	v, err := expand.Literal(nil, w)
	if err != nil {
		return
	}
	q, err := syntax.Quote(v, syntax.LangPOSIX)
	if err != nil {
		return // a value no POSIX quoting can hold (a NUL byte): keep it as written
	}
	if len(w.Parts) == 1 {
		if l, ok := w.Parts[0].(*syntax.Lit); ok && l.Value == q {
			return
		}
	}
	pos := w.Pos()
	w.Parts = []syntax.WordPart{&syntax.Lit{ValuePos: pos, ValueEnd: pos, Value: q}}
}

// parseShellLine parses one shell command line (a Dockerfile RUN in shell
// form) in POSIX mode, as /bin/sh reads it.
func parseShellLine(src string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(src), "")
}
