package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"go.yaml.in/yaml/v3"
	"mvdan.cc/sh/v3/syntax"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/lighthouse-project/lighthouse/gen/emit"
)

// shape is the structure of the four artifacts with their data left out,
// each read by its consumer's parser: the Dockerfile's instructions
// (names, flags, number of arguments, heredocs, the variables each word
// expands and the shell structure of RUN), the start script's commands
// (mvdan.cc/sh's AST: node kinds, command names, which words expand what,
// never the literal text), compose's key paths and the Kubernetes objects'
// kinds and key paths. Two builds whose specs differ only in the text of
// a string must have equal shapes.
type shape map[string][]string

// shapeOf parses the emitted files; a file its consumer cannot parse is
// an error.
func shapeOf(files []File) (shape, error) {
	sh := shape{}
	for _, f := range files {
		var lines []string
		var err error
		switch f.Name {
		case emit.Dockerfile:
			lines, err = dockerfileShape(f.Data)
		case emit.Script:
			lines, err = scriptShape(string(f.Data))
		case emit.Compose:
			lines, err = composeShape(f.Data)
		case emit.Kubernetes:
			lines, err = kubeShape(f.Data)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		sh[f.Name] = lines
	}
	return sh, nil
}

// diff names the first difference between two shapes, "" when equal.
func (a shape) diff(b shape) string {
	for _, name := range emit.Names {
		x, y := a[name], b[name]
		for i := range max(len(x), len(y)) {
			var l, r string
			if i < len(x) {
				l = x[i]
			}
			if i < len(y) {
				r = y[i]
			}
			if l != r {
				return fmt.Sprintf("%s: item %d: %q, was %q", name, i, r, l)
			}
		}
	}
	return ""
}

// dockerfileShape is the instruction list as BuildKit parses it.
func dockerfileShape(data []byte) ([]string, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if _, _, err := instructions.Parse(res.AST, nil); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range res.AST.Children {
		name := strings.ToLower(n.Value)
		var flags []string
		for _, f := range n.Flags {
			k, _, _ := strings.Cut(f, "=")
			flags = append(flags, k)
		}
		var words []string
		for a := n.Next; a != nil; a = a.Next {
			words = append(words, a.Value)
		}
		json := n.Attributes["json"]
		out = append(out, fmt.Sprintf("%s flags=%v args=%d json=%v heredocs=%d", name, flags, len(words), json, len(n.Heredocs)))
		switch {
		case name == "run" && !json:
			cmd, err := scriptShape(strings.Join(words, " "))
			if err != nil {
				return nil, fmt.Errorf("RUN: %w", err)
			}
			out = append(out, "  sh: "+strings.Join(cmd, " "))
		case !json && name != "healthcheck" && name != "stopsignal":
			// Words BuildKit expands: which variables each refers to.
			for _, w := range words {
				r, err := shell.NewLex(res.EscapeToken).ProcessWordWithMatches(w, shell.EnvsFromSlice(nil))
				if err != nil {
					return nil, fmt.Errorf("%s word: %w", name, err)
				}
				var refs []string
				for v := range r.Matched {
					refs = append(refs, v)
				}
				for v := range r.Unmatched {
					refs = append(refs, v)
				}
				slices.Sort(refs)
				if len(refs) > 0 {
					out = append(out, fmt.Sprintf("  expands %v", refs))
				}
			}
		}
	}
	return out, nil
}

// envName is the form of the variables the spec declares; their names
// are data (a spec may call them anything), the script's own are not.
var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// scriptShape is a POSIX shell program's syntax tree with its literal
// text left out: a word made of literal (or quoted literal) text only is
// "W", whatever its quoting; a command's name, a function's name, an
// expansion's operator and the script's own variable names are kept.
func scriptShape(src string) ([]string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(src), "")
	if err != nil {
		return nil, err
	}
	var out []string
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case nil:
			out = append(out, ")")
			return true
		case *syntax.Word:
			if _, ok := literal(n); ok {
				out = append(out, "W")
				return false
			}
			out = append(out, "Word(")
		case *syntax.CallExpr:
			name := "?"
			if len(n.Args) > 0 {
				if s, ok := literal(n.Args[0]); ok {
					name = s
				}
			}
			out = append(out, fmt.Sprintf("call %s/%d (", name, len(n.Args)))
		case *syntax.FuncDecl:
			out = append(out, "func "+n.Name.Value+"(")
		case *syntax.ParamExp:
			p := "?"
			if n.Param != nil {
				p = n.Param.Value
				if envName.MatchString(p) {
					p = "VAR"
				}
			}
			op := ""
			if n.Exp != nil {
				op = n.Exp.Op.String()
			}
			out = append(out, fmt.Sprintf("param %s %s short=%v excl=%v len=%v (", p, op, n.Short, n.Excl, n.Length))
		case *syntax.Lit:
			out = append(out, "Lit")
			return false
		default:
			out = append(out, fmt.Sprintf("%T(", n))
		}
		return true
	})
	return out, nil
}

// literal is the text of a word that expands nothing: literal parts,
// single-quoted ones and double-quoted literal text.
func literal(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(l.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// composeData and kubeData are the maps whose keys are the spec's names
// (services, volumes, variables, labels, resources), not structure: their
// keys are counted, not named.
var (
	composeData = map[string]bool{"services": true, "volumes": true, "environment": true, "labels": true}
	kubeData    = map[string]bool{"labels": true, "matchLabels": true, "data": true, "limits": true, "requests": true, "selector": true}
)

// composeShape is compose.yaml's key paths, the kind of each value and
// the number of interpolations compose would make.
func composeShape(data []byte) ([]string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var out []string
	walkYAML(doc, "", "", composeData, &out)
	slices.Sort(out)
	return append(out, fmt.Sprintf("interpolations %d", len(template.ExtractVariables(doc, template.DefaultPattern)))), nil
}

// kubeShape is each object's kind and key paths, in file order, read as
// kubectl reads them (sigs.k8s.io/yaml: YAML 1.1 to JSON).
func kubeShape(data []byte) ([]string, error) {
	var out []string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		j, err := k8syaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, err
		}
		var obj map[string]any
		if err := json.Unmarshal(j, &obj); err != nil {
			return nil, err
		}
		var paths []string
		walkYAML(obj, "", "", kubeData, &paths)
		slices.Sort(paths)
		out = append(out, fmt.Sprintf("object %v %v", obj["apiVersion"], obj["kind"]))
		out = append(out, paths...)
	}
	return out, nil
}

// walkYAML records the path and kind of every leaf below v; a map named
// in data has its keys replaced by "*".
func walkYAML(v any, path, key string, data map[string]bool, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			seg := k
			if data[key] {
				seg = "*"
			}
			walkYAML(e, path+"."+seg, k, data, out)
		}
	case []any:
		for i, e := range v {
			walkYAML(e, fmt.Sprintf("%s[%d]", path, i), "", data, out)
		}
	case int, int64, uint64, float64:
		*out = append(*out, path+": number") // 1 and 0.5 are both numbers to compose
	default:
		*out = append(*out, fmt.Sprintf("%s: %T", path, v))
	}
}
