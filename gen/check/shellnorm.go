package check

import (
	"strings"

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
	syntax.Walk(n, braces)
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.DblQuoted:
			// Inside double quotes a backslash or a quote means something
			// else: words there keep their spelling.
			return false
		case *syntax.Word:
			canonicalWord(n)
			return false
		}
		return true
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

// canonicalWord rewrites a word as one literal holding its canonical
// spelling. The word is cut into literal text and expansions, each
// quoted or not; literal text without a character quoting changes
// (glob characters, a tilde) counts as quoted whatever its spelling, since
// the shell reads it alike either way; then runs of quoted pieces print
// inside one pair of double quotes and unquoted ones bare. So 'a',
// "a", a and a\b print alike, and so do x="${y}" and "x=$y", while
// "$y" and $y (split and globbed) do not. A word this cannot read ($'...',
// a tilde) keeps its spelling.
func canonicalWord(w *syntax.Word) {
	var segs []segment
	for _, p := range w.Parts {
		var ok bool
		if segs, ok = appendSegments(segs, p); !ok {
			return
		}
	}
	if len(segs) == 0 {
		return
	}
	for i := range segs {
		if segs[i].node == nil && !strings.ContainsAny(segs[i].lit, "*?[]{}~") {
			segs[i].quoted = true
		}
	}
	var b strings.Builder
	for i, sg := range segs {
		open := sg.quoted && (i == 0 || !segs[i-1].quoted)
		if open {
			b.WriteByte('"')
		}
		switch {
		case sg.node != nil:
			b.WriteString(printShell(sg.node))
		case sg.quoted:
			b.WriteString(dqEscaper.Replace(sg.lit))
		default:
			b.WriteString(sg.raw)
		}
		if sg.quoted && (i == len(segs)-1 || !segs[i+1].quoted) {
			b.WriteByte('"')
		}
	}
	pos := w.Pos()
	w.Parts = []syntax.WordPart{&syntax.Lit{ValuePos: pos, ValueEnd: pos, Value: b.String()}}
}

// dqEscaper escapes text for the inside of double quotes.
var dqEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")

// segment is a piece of a word: literal text (lit, as the shell reads it;
// raw, as written) or an expansion (node), quoted or not.
type segment struct {
	lit, raw string
	node     syntax.Node
	quoted   bool
}

// appendSegments cuts a word part into segments; ok is false for a part
// whose reading this does not model.
func appendSegments(segs []segment, p syntax.WordPart) ([]segment, bool) {
	switch p := p.(type) {
	case *syntax.Lit:
		if strings.Contains(p.Value, "~") {
			return nil, false
		}
		return append(segs, segment{lit: unescape(p.Value, false), raw: p.Value}), true
	case *syntax.SglQuoted:
		if p.Dollar {
			return nil, false
		}
		return append(segs, segment{lit: p.Value, raw: p.Value, quoted: true}), true
	case *syntax.DblQuoted:
		if p.Dollar {
			return nil, false
		}
		for _, q := range p.Parts {
			if l, ok := q.(*syntax.Lit); ok {
				segs = append(segs, segment{lit: unescape(l.Value, true), raw: l.Value, quoted: true})
				continue
			}
			segs = append(segs, segment{node: q, quoted: true})
		}
		if len(p.Parts) == 0 {
			segs = append(segs, segment{quoted: true})
		}
		return segs, true
	}
	return append(segs, segment{node: p}), true
}

// unescape reads the backslashes of literal text as POSIX sh does: bare,
// a backslash keeps the next character and a backslash-newline is
// removed; inside double quotes only $ ` " \ and a newline are escaped.
func unescape(s string, dq bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		next := s[i+1]
		switch {
		case next == '\n':
			i++
		case !dq || strings.IndexByte("$`\"\\", next) >= 0:
			b.WriteByte(next)
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseShellLine parses one shell command line (a Dockerfile RUN in shell
// form) in POSIX mode, as /bin/sh reads it.
func parseShellLine(src string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(src), "")
}
