package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// Script is the start script as a POSIX shell parser reads it.
type Script struct {
	File string
	AST  *syntax.File
	// Shebang is the first line when it starts with #!, the interpreter
	// the kernel runs the script with.
	Shebang string

	// Exec is the final command's words after "exec" (binary first), when the
	// script's last top-level command is an exec; nil otherwise.
	Exec     []string
	ExecLine int
	// LastLine is the line of the last top-level command, exec or not.
	LastLine int
	// Required maps each variable checked with `: "${NAME:?...}"` to its line.
	Required map[string]int
	// Refs maps every variable the script expands to its first line.
	Refs map[string]int
	// FuseCheckLine is the line of a `[ -c /dev/fuse ]` test, 0 if none.
	FuseCheckLine int
	// Mkdirs are the arguments of `mkdir -p`, literal or "$VAR", with lines.
	Mkdirs []WordLine
	// Assigns are the environment variables the script sets.
	Assigns []Assign
}

// Assign is one environment variable a script sets, with its value as
// literal text (or as written, when it expands something).
type Assign struct {
	Name, Value string
	Line        int
}

// envNameRE matches an environment variable's name, as the schema spells
// them.
var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// WordLine is a shell word printed back as source, with its line.
type WordLine struct {
	Word string
	Line int
}

// ParseScript parses a start script in POSIX mode (what /bin/sh is promised to
// understand) and extracts what the invariants compare.
func ParseScript(file string, data []byte) (*Script, error) {
	// mvdan.cc/sh reads CRLF as a line end; dash and busybox sh, which run
	// the script, read the CR as part of the last word of each line.
	if i := bytes.IndexByte(data, '\r'); i >= 0 {
		return nil, &PosError{file, 1 + bytes.Count(data[:i], []byte("\n")), "a carriage return (a CRLF line end?): /bin/sh reads it as part of a word, not as the end of the line"}
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(bytes.NewReader(data), file)
	if err != nil {
		return nil, err
	}
	s := &Script{File: file, AST: f, Required: map[string]int{}, Refs: map[string]int{}}
	if first, _, _ := bytes.Cut(data, []byte("\n")); bytes.HasPrefix(first, []byte("#!")) {
		s.Shebang = strings.TrimSpace(string(first))
	}
	if n := len(f.Stmts); n > 0 {
		last := f.Stmts[n-1]
		s.LastLine = int(last.Pos().Line())
		if call, ok := last.Cmd.(*syntax.CallExpr); ok && len(call.Args) > 1 && wordString(call.Args[0]) == "exec" {
			for _, a := range call.Args[1:] {
				s.Exec = append(s.Exec, wordString(a))
			}
			s.ExecLine = s.LastLine
		}
	}
	s.Assigns = scriptAssigns(f)
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.ParamExp:
			if n.Param != nil {
				if _, seen := s.Refs[n.Param.Value]; !seen {
					s.Refs[n.Param.Value] = int(n.Pos().Line())
				}
			}
		case *syntax.CallExpr:
			s.call(n)
		}
		return true
	})
	return s, nil
}

// call records required-variable checks, `[ -c /dev/fuse ]` and `mkdir -p`.
func (s *Script) call(c *syntax.CallExpr) {
	if len(c.Args) == 0 {
		return
	}
	line := int(c.Pos().Line())
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = wordString(a)
	}
	switch args[0] {
	case ":":
		for _, a := range c.Args[1:] {
			for _, p := range a.Parts {
				if dq, ok := p.(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
					p = dq.Parts[0]
				}
				if pe, ok := p.(*syntax.ParamExp); ok && pe.Exp != nil && pe.Exp.Op == syntax.ErrorUnsetOrNull && pe.Param != nil {
					s.Required[pe.Param.Value] = line
				}
			}
		}
	case "[", "test":
		if slices.Contains(args, "-c") && slices.Contains(args, "/dev/fuse") {
			s.FuseCheckLine = line
		}
	case "mkdir":
		for _, a := range args[1:] {
			if !strings.HasPrefix(a, "-") {
				s.Mkdirs = append(s.Mkdirs, WordLine{strings.Trim(a, `"`), line})
			}
		}
	}
}

// wordString is a word's value when it is literal text however quoted
// ('/bin/x' and /bin/x are /bin/x, as the shell passes them: quotes
// removed, by mvdan.cc/sh's expand), else the word printed back as source.
func wordString(w *syntax.Word) string {
	if literalWord(w) {
		if v, err := expand.Literal(&expand.Config{Env: expand.ListEnviron()}, w); err == nil {
			return v
		}
	}
	var b strings.Builder
	syntax.NewPrinter().Print(&b, w)
	return b.String()
}

// literalWord reports whether w expands nothing: literal text (no ~),
// single quotes, and double quotes around literal text only.
func literalWord(w *syntax.Word) bool {
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			if strings.Contains(p.Value, "~") {
				return false
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				return false
			}
		case *syntax.DblQuoted:
			if p.Dollar {
				return false
			}
			for _, q := range p.Parts {
				if _, ok := q.(*syntax.Lit); !ok {
					return false
				}
			}
		default:
			return false
		}
	}
	return len(w.Parts) > 0
}

// ErrNoShellcheck is returned when the shellcheck binary is not installed:
// a missing linter must fail loudly, never pass silently.
var ErrNoShellcheck = errors.New("shellcheck is not installed (apt-get install shellcheck); cannot lint the start script")

// Shellcheck runs `shellcheck -s sh -f json` on a start script and returns
// each comment as a RuleShellcheck finding.
func Shellcheck(ctx context.Context, file string, data []byte) ([]Finding, error) {
	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		return nil, ErrNoShellcheck
	}
	cmd := exec.CommandContext(ctx, bin, "-s", "sh", "-f", "json", "-")
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	// shellcheck exits 1 when it has comments; anything else is a failure to run.
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return nil, fmt.Errorf("shellcheck %s: %v: %s", file, err, strings.TrimSpace(stderr.String()))
	}
	var comments []struct {
		Line    int    `json:"line"`
		Level   string `json:"level"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(out.Bytes(), &comments); err != nil {
		return nil, fmt.Errorf("shellcheck %s: unreadable output: %v", file, err)
	}
	var fs []Finding
	for _, c := range comments {
		fs = append(fs, Finding{File: file, Line: c.Line, Rule: RuleShellcheck, Message: fmt.Sprintf("SC%d (%s): %s", c.Code, c.Level, c.Message)})
	}
	return fs, nil
}

// Tree is the start script as the shell runs it: its interpreter line and
// every top-level command in order, each printed canonically (one line,
// no comments, one quoting per word value), so a command added, removed,
// changed or moved anywhere, before or after the exec, is a difference,
// and a re-indented or re-quoted one is not.
func (s *Script) Tree() *Node {
	root := NewMap(1)
	if s.Shebang != "" {
		root.Set("interpreter", Str(s.Shebang, 1))
	}
	cmds := NewList(1)
	for _, st := range s.AST.Stmts {
		line := int(st.Pos().Line())
		text := printShell(st)
		canon := canonicalShell(cloneStmt(st))
		cmds.Add(&Node{Kind: Scalar, Value: canon, String: true, Text: text, Line: line})
	}
	root.Set("commands", cmds)
	return root
}

// cloneStmt copies a statement by printing and parsing it again, so
// canonicalization leaves the parsed script as written.
func cloneStmt(st *syntax.Stmt) syntax.Node {
	var b strings.Builder
	if err := syntax.NewPrinter().Print(&b, st); err != nil {
		return st
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(b.String()), "")
	if err != nil || len(f.Stmts) != 1 {
		return st
	}
	return f.Stmts[0]
}
