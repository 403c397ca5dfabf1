package check

import (
	"maps"
	"slices"
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
		if c, ok := n.(*syntax.CallExpr); ok {
			canonicalSet(c)
		}
		return true
	})
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

// setOptions are the POSIX shell options set turns on (-x, -o name) and
// off (+x, +o name), by letter and by name.
var setOptions = map[string]string{
	"a": "allexport", "b": "notify", "C": "noclobber", "e": "errexit", "f": "noglob",
	"m": "monitor", "n": "noexec", "u": "nounset", "v": "verbose", "x": "xtrace",
}

// setOptionNames are the names set -o takes.
var setOptionNames = map[string]bool{
	"allexport": true, "errexit": true, "ignoreeof": true, "monitor": true, "noclobber": true,
	"noglob": true, "noexec": true, "nolog": true, "notify": true, "nounset": true,
	"pipefail": true, "verbose": true, "vi": true, "xtrace": true,
}

// canonicalSet rewrites a set command that only sets options (set -eu,
// set -e -u, set -o errexit -o nounset, set -u -e) as the state it
// leaves, one -o or +o per option, sorted by name: the shell reads them
// alike. A set with any other argument (positional parameters, --, an
// option it does not know, set -o alone) is left as written.
func canonicalSet(c *syntax.CallExpr) {
	if len(c.Assigns) > 0 || len(c.Args) < 2 || !literalWord(c.Args[0]) || wordString(c.Args[0]) != "set" {
		return
	}
	state := map[string]string{} // name → "-o" or "+o"
	for i := 1; i < len(c.Args); i++ {
		if !literalWord(c.Args[i]) {
			return
		}
		a := wordString(c.Args[i])
		if len(a) < 2 || (a[0] != '-' && a[0] != '+') {
			return
		}
		on := a[:1] + "o"
		if a[1:] == "o" {
			if i+1 == len(c.Args) || !literalWord(c.Args[i+1]) || !setOptionNames[wordString(c.Args[i+1])] {
				return
			}
			i++
			state[wordString(c.Args[i])] = on
			continue
		}
		for _, l := range a[1:] {
			name, ok := setOptions[string(l)]
			if !ok {
				return
			}
			state[name] = on
		}
	}
	lit := func(v string) *syntax.Word {
		pos := c.Args[0].Pos()
		return &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{ValuePos: pos, ValueEnd: pos, Value: v}}}
	}
	args := []*syntax.Word{c.Args[0]}
	for _, name := range slices.Sorted(maps.Keys(state)) {
		args = append(args, lit(state[name]), lit(name))
	}
	c.Args = args
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
