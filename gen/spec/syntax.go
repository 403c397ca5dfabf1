package spec

import (
	"cuelang.org/go/cue/scanner"
	"cuelang.org/go/cue/token"
)

// bracket is an opening {, [ or ( in a file, with the indentation of its
// line.
type bracket struct {
	tok    token.Token
	pos    token.Pos
	indent int
}

var closing = map[token.Token]token.Token{token.LBRACE: token.RBRACE, token.LBRACK: token.RBRACK, token.LPAREN: token.RPAREN}

// unclosed finds the bracket a file most likely leaves open, when CUE's
// parser reached its end expecting a closing one (it can only say
// "expected '}', found 'EOF'", at the end). It reads the file with CUE's
// scanner (strings and comments are skipped as CUE skips them) and pairs
// the brackets. A closing bracket indented less than the line that opened
// its partner most likely belongs to an outer one: the partner is the one
// left open (a "}" forgotten before an outdented line). A closing bracket
// of another kind ("(" closed by "}") leaves its partner open for sure.
// Without either, the innermost bracket still open at the end is. ok is
// false when every bracket is closed by one of its kind.
func unclosed(filename string, src []byte) (b bracket, ok bool) {
	file := token.NewFile(filename, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, scanner.DontInsertCommas)
	indent := func(pos token.Pos) int {
		n := 0
		for i := lineStart(src, file.Offset(pos)); i < len(src) && (src[i] == ' ' || src[i] == '\t'); i++ {
			if src[i] == '\t' {
				n += 8 - n%8
			} else {
				n++
			}
		}
		return n
	}
	var stack []bracket
	var mismatched, suspect *bracket
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			break
		}
		switch tok {
		case token.LBRACE, token.LBRACK, token.LPAREN:
			stack = append(stack, bracket{tok, pos, indent(pos)})
		case token.RBRACE, token.RBRACK, token.RPAREN:
			if len(stack) == 0 {
				continue
			}
			// A bracket of another kind on top ("( ... }") is the one
			// left open; this one closes the one below it.
			for len(stack) > 1 && closing[stack[len(stack)-1].tok] != tok {
				if mismatched == nil {
					top := stack[len(stack)-1]
					mismatched = &top
				}
				stack = stack[:len(stack)-1]
			}
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if suspect == nil && closing[open.tok] == tok && firstOnLine(file, src, pos) && indent(pos) < open.indent {
				suspect = &open
			}
		}
	}
	if mismatched != nil {
		return *mismatched, true
	}
	if len(stack) == 0 {
		return bracket{}, false
	}
	if suspect != nil {
		return *suspect, true
	}
	return stack[len(stack)-1], true
}

// firstOnLine reports whether pos is the first non-blank character of
// its line (a closing bracket alone on its line tells its indentation).
func firstOnLine(file *token.File, src []byte, pos token.Pos) bool {
	off := file.Offset(pos)
	for i := lineStart(src, off); i < off; i++ {
		if src[i] != ' ' && src[i] != '\t' {
			return false
		}
	}
	return true
}

// lineStart is the offset of the first byte of the line holding off.
func lineStart(src []byte, off int) int {
	for off > 0 && src[off-1] != '\n' {
		off--
	}
	return off
}

// unclosedError explains a bracket left open, at the bracket.
func unclosedError(b bracket) *specError {
	open := map[token.Token]string{token.LBRACE: "{", token.LBRACK: "[", token.LPAREN: "("}[b.tok]
	shut := map[token.Token]string{token.LBRACE: "}", token.LBRACK: "]", token.LPAREN: ")"}[b.tok]
	what := map[token.Token]string{token.LBRACE: "struct", token.LBRACK: "list", token.LPAREN: "expression"}[b.tok]
	return &specError{
		format: "this %q is never closed: add its %q where the %s it opens ends",
		args:   []any{open, shut, what},
	}
}
