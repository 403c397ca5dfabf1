package spec

import (
	"fmt"
	"math/big"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/token"
)

// describe says in words what the schema's value v allows, for a message
// that an author reads: "an integer from 0 to 65535 (default 65532)"
// where CUE prints *65532 | uint16, "one of "TCP", "UDP" (default "TCP")",
// "a Go duration of whole seconds or more, such as 30s or 1m30s
// (#Duration)". It reads CUE's own syntax of v (Value.Syntax); what it
// does not know it leaves in CUE's words.
func describe(schema, v cue.Value) string {
	n := v.Syntax(cue.Raw())
	e, ok := n.(ast.Expr)
	if !ok {
		return fmt.Sprint(v)
	}
	return describeExpr(schema, e)
}

func describeExpr(schema cue.Value, e ast.Expr) string {
	var alts []ast.Expr
	var dflt ast.Expr
	var walk func(ast.Expr)
	walk = func(x ast.Expr) {
		switch y := x.(type) {
		case *ast.ParenExpr:
			walk(y.X)
		case *ast.BinaryExpr:
			if y.Op == token.OR {
				walk(y.X)
				walk(y.Y)
				return
			}
			alts = append(alts, x)
		case *ast.UnaryExpr:
			if y.Op == token.MUL {
				dflt = y.X
				alts = append(alts, y.X)
				return
			}
			alts = append(alts, x)
		default:
			alts = append(alts, x)
		}
	}
	walk(e)
	var words []string
	literals := true
	for _, a := range alts {
		if _, ok := a.(*ast.BasicLit); !ok {
			literals = false
		}
	}
	for _, a := range alts {
		// The default is named once, after the choices, unless the
		// choices are a list of literals that it is one of.
		if a == dflt && !literals && len(alts) > 1 {
			continue
		}
		words = append(words, describeAlt(schema, a))
	}
	text := strings.Join(words, " or ")
	if literals && len(alts) > 1 {
		text = "one of " + strings.Join(words, ", ")
	}
	if dflt != nil {
		text += " (default " + exprString(dflt) + ")"
	}
	return text
}

// describeAlt describes one choice: a literal, a kind with bounds, or a
// pattern of a named definition.
func describeAlt(schema cue.Value, e ast.Expr) string {
	var parts []ast.Expr
	var walk func(ast.Expr)
	walk = func(x ast.Expr) {
		switch y := x.(type) {
		case *ast.ParenExpr:
			walk(y.X)
		case *ast.BinaryExpr:
			if y.Op == token.AND {
				walk(y.X)
				walk(y.Y)
				return
			}
			parts = append(parts, x)
		default:
			parts = append(parts, x)
		}
	}
	walk(e)
	kind := ""
	var lo, hi *big.Int
	var rest []string
	for _, p := range parts {
		switch y := p.(type) {
		case *ast.BasicLit:
			return exprString(y)
		case *ast.ListLit:
			if len(y.Elts) == 1 {
				if el, ok := y.Elts[0].(*ast.Ellipsis); ok {
					if el.Type == nil {
						return "a list"
					}
					if id, ok := el.Type.(*ast.Ident); ok && id.Name == "string" {
						return "a list of strings"
					}
					return "a list, each element " + describeAlt(schema, el.Type)
				}
			}
			rest = append(rest, exprString(y))
		case *ast.Ident:
			k, l, h, ok := numericType(y.Name)
			if !ok {
				rest = append(rest, exprString(y))
				continue
			}
			kind = k
			lo, hi = tighter(lo, l, true), tighter(hi, h, false)
		case *ast.UnaryExpr:
			v, isInt := intLit(y.X)
			switch {
			case isInt && (y.Op == token.GEQ || y.Op == token.GTR):
				if y.Op == token.GTR {
					v.Add(v, big.NewInt(1))
				}
				lo = tighter(lo, v, true)
			case isInt && (y.Op == token.LEQ || y.Op == token.LSS):
				if y.Op == token.LSS {
					v.Sub(v, big.NewInt(1))
				}
				hi = tighter(hi, v, false)
			case y.Op == token.NEQ && exprString(y.X) == `""`:
				rest = append(rest, "not empty")
			default:
				if name, what := definitionOf(schema, exprString(y)); what != "" {
					rest = append(rest, what+" ("+name+")")
				} else {
					rest = append(rest, exprString(y))
				}
			}
		default:
			rest = append(rest, exprString(p))
		}
	}
	var text string
	switch {
	case kind == "" && lo == nil && hi == nil:
		return strings.Join(rest, " and ")
	case kind == "":
		kind = "a number"
	}
	switch {
	case lo != nil && hi != nil:
		text = fmt.Sprintf("%s from %s to %s", kind, lo, hi)
	case lo != nil:
		text = fmt.Sprintf("%s of at least %s", kind, lo)
	case hi != nil:
		text = fmt.Sprintf("%s of at most %s", kind, hi)
	default:
		text = kind
	}
	if len(rest) > 0 {
		text += ", " + strings.Join(rest, " and ")
	}
	return text
}

// numericType names CUE's predeclared types (int, string, uint16, ...)
// in words, with the bounds the sized integer types carry.
func numericType(name string) (kind string, lo, hi *big.Int, ok bool) {
	switch name {
	case "int":
		return "an integer", nil, nil, true
	case "number":
		return "a number", nil, nil, true
	case "float":
		return "a number", nil, nil, true
	case "string":
		return "a string", nil, nil, true
	case "bool":
		return "true or false", nil, nil, true
	case "bytes":
		return "bytes", nil, nil, true
	case "uint":
		return "an integer", big.NewInt(0), nil, true
	}
	for _, bits := range []uint{8, 16, 32, 64, 128} {
		switch name {
		case fmt.Sprintf("uint%d", bits):
			h := new(big.Int).Lsh(big.NewInt(1), bits)
			return "an integer", big.NewInt(0), h.Sub(h, big.NewInt(1)), true
		case fmt.Sprintf("int%d", bits):
			h := new(big.Int).Lsh(big.NewInt(1), bits-1)
			l := new(big.Int).Neg(h)
			return "an integer", l, h.Sub(h, big.NewInt(1)), true
		}
	}
	return "", nil, nil, false
}

// tighter is the narrower of two bounds: the larger lower bound (lower
// set) or the smaller upper bound; nil is no bound.
func tighter(a, b *big.Int, lower bool) *big.Int {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case (a.Cmp(b) < 0) == lower:
		return b
	}
	return a
}

func intLit(e ast.Expr) (*big.Int, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.INT {
		return nil, false
	}
	v, ok := new(big.Int).SetString(strings.ReplaceAll(lit.Value, "_", ""), 0)
	return v, ok
}

func exprString(e ast.Expr) string {
	b, err := format.Node(e)
	if err != nil {
		return fmt.Sprint(e)
	}
	return string(b)
}
