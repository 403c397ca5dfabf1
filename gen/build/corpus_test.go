package build

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readCorpus reads the entries of a fuzz target's corpus folder
// (testdata/fuzz/<Target>), in file-name order, each as the arguments the
// target receives. The format is the testing package's ("go test fuzz v1",
// then one Go literal per argument, such as uint16(30) or string("x")),
// read with go/parser. A folder that does not exist has no entries.
func readCorpus(dir string) ([][]any, error) {
	files, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][]any
	for _, f := range files {
		if f.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, err
		}
		args, err := parseCorpusEntry(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, f.Name()), err)
		}
		out = append(out, args)
	}
	return out, nil
}

// parseCorpusEntry reads one corpus file: the version line, then one
// T(literal) per line.
func parseCorpusEntry(text string) ([]any, error) {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) == 0 || lines[0] != "go test fuzz v1" {
		return nil, fmt.Errorf("not a fuzz corpus file")
	}
	var out []any
	for _, l := range lines[1:] {
		e, err := parser.ParseExpr(l)
		if err != nil {
			return nil, err
		}
		call, ok := e.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return nil, fmt.Errorf("%q is no T(literal)", l)
		}
		if id, ok := call.Args[0].(*ast.Ident); ok && (id.Name == "true" || id.Name == "false") {
			out = append(out, id.Name == "true")
			continue
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			return nil, fmt.Errorf("%q is no T(literal)", l)
		}
		var typ string
		switch fn := call.Fun.(type) {
		case *ast.Ident:
			typ = fn.Name
		case *ast.ArrayType:
			typ = "[]byte"
		}
		v, err := corpusValue(typ, lit)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", l, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func corpusValue(typ string, lit *ast.BasicLit) (any, error) {
	switch typ {
	case "string", "[]byte":
		s, err := strconv.Unquote(lit.Value)
		if typ == "[]byte" {
			return []byte(s), err
		}
		return s, err
	case "byte", "uint8", "uint16", "uint32", "uint64", "uint", "int", "int8", "int16", "int32", "int64", "rune":
		var n int64
		if lit.Kind == token.CHAR {
			r, _, _, err := strconv.UnquoteChar(lit.Value[1:len(lit.Value)-1], '\'')
			if err != nil {
				return nil, err
			}
			n = int64(r)
		} else {
			var err error
			if n, err = strconv.ParseInt(lit.Value, 0, 64); err != nil {
				return nil, err
			}
		}
		switch typ {
		case "byte", "uint8":
			return uint8(n), nil
		case "uint16":
			return uint16(n), nil
		case "uint32":
			return uint32(n), nil
		case "uint64":
			return uint64(n), nil
		case "uint":
			return uint(n), nil
		case "int8":
			return int8(n), nil
		case "int16":
			return int16(n), nil
		case "int32", "rune":
			return int32(n), nil
		case "int64":
			return n, nil
		}
		return int(n), nil
	}
	return nil, fmt.Errorf("type %s not read", typ)
}

// TestReadCorpus reads corpus entries of the testing package's format.
func TestReadCorpus(t *testing.T) {
	dir := t.TempDir()
	entry := "go test fuzz v1\nbyte('-')\nuint16(30)\nbyte('\\x00')\nstring(\"a\\nb\")\n[]byte(\"\\xff\")\nbool(true)\n"
	if err := os.WriteFile(filepath.Join(dir, "0a"), []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{uint8('-'), uint16(30), uint8(0), "a\nb", []byte{0xff}, true}
	if len(got) != 1 || len(got[0]) != len(want) {
		t.Fatalf("got %#v", got)
	}
	for i := range want {
		if fmt.Sprintf("%#v", got[0][i]) != fmt.Sprintf("%#v", want[i]) {
			t.Errorf("argument %d = %#v, want %#v", i, got[0][i], want[i])
		}
	}
	if got, err := readCorpus(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("a missing folder: %v, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0b"), []byte("go test fuzz v1\nfloat64(1.5)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readCorpus(dir); err == nil || !slices.Contains(strings.Fields(err.Error()), "float64") {
		t.Errorf("an argument of an unread type: %v", err)
	}
}
