package encode

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// hostile are strings each context must either carry exactly or refuse.
var hostile = []string{
	"", "plain", "a b", "it's", `say "hi"`, "$HOME", "${HOME}", "$(id)", "`id`", `back\slash`, `end\`,
	"line\nbreak", "cr\rlf", "tab\there", "nul\x00byte", "\u202eevil\u202c", "zero\u200bwidth", "\ufeffbom",
	"~root", "-flag", "--from=build", "a=b", "#comment", "}", "{", "a<<EOF", "*", "[x]", "?", "!",
	"é ü 漢字", "\xff\xfe", "\u2028", "\u0085", "\u00a0", strings.Repeat("x", 70000), "a:b", "/dev/fuse",
	"/var/lib/app", "registry.example.com/app:1.2@sha256:" + strings.Repeat("a", 64),
}

// FuzzEncoders holds every encoder to its consumer's parser: for any
// string, an encoder either refuses it (an *Error naming the field) or
// writes text that the consumer reads back as exactly that string, in
// exactly the structure around it (one word, one instruction, one
// interpolation).
func FuzzEncoders(f *testing.F) {
	for _, s := range hostile {
		if len(s) < 1000 { // TestEncoders has the long one; as a seed it slows every mutation
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDockerfile(t, s)
		checkShell(t, s)
		checkCompose(t, s)
	})
}

func TestEncoders(t *testing.T) {
	for _, s := range hostile {
		checkDockerfile(t, s)
		checkShell(t, s)
		checkCompose(t, s)
	}
}

// refused reports whether enc refused the string as field f, and fails
// the test when it refused it under another name.
func refused(t *testing.T, enc *Encoder, field string) bool {
	t.Helper()
	err := enc.Err()
	if err == nil {
		return false
	}
	es, ok := AsErrors(err)
	if !ok || len(es) == 0 || es[0].Field != field {
		t.Fatalf("refusal %v does not name %s", err, field)
	}
	return true
}

func parseDockerfile(t *testing.T, src string) (*parser.Result, []instructions.Stage) {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(src))
	if err != nil {
		t.Fatalf("BuildKit cannot parse %s: %v", Show(src), err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("BuildKit cannot read %s: %v", Show(src), err)
	}
	return res, stages
}

func checkDockerfile(t *testing.T, s string) {
	t.Helper()
	env := shell.EnvsFromSlice([]string{"HOME=/root"})

	enc := &Encoder{}
	c := enc.DockerfileComment("description", s)
	if !refused(t, enc, "description") {
		res, _ := parseDockerfile(t, "# "+c+"\nFROM scratch\n")
		if n := len(res.AST.Children); n != 1 {
			t.Fatalf("comment %.200q makes %d instructions", s, n)
		}
	}

	enc = &Encoder{}
	k, v := enc.DockerfileLabelKey("k", s), enc.DockerfileQuoted("v", s)
	if err := enc.Err(); err == nil {
		res, stages := parseDockerfile(t, "FROM scratch\nLABEL "+k+"="+v+" \\\n      \"x\"=\"y\"\nENV X="+v+"\n")
		lex := shell.NewLex(res.EscapeToken)
		var labels, envs int
		for _, cmd := range stages[0].Commands {
			switch cmd := cmd.(type) {
			case *instructions.LabelCommand:
				for _, kv := range cmd.Labels {
					labels++
					if labels == 1 {
						gotK, _, err1 := lex.ProcessWord(kv.Key, env)
						gotV, _, err2 := lex.ProcessWord(kv.Value, env)
						if err1 != nil || err2 != nil || gotK != s || gotV != s {
							t.Fatalf("LABEL %.200q=%.200q reads back as %.200q=%.200q (%v, %v)", s, s, gotK, gotV, err1, err2)
						}
					}
				}
			case *instructions.EnvCommand:
				for _, kv := range cmd.Env {
					envs++
					if got, _, err := lex.ProcessWord(kv.Value, env); err != nil || got != s || kv.Key != "X" {
						t.Fatalf("ENV X=%.200q reads back as %s=%.200q (%v)", s, kv.Key, got, err)
					}
				}
			}
		}
		if labels != 2 || envs != 1 || len(stages[0].Commands) != 2 {
			t.Fatalf("%.200q: %d labels, %d env, %d instructions", s, labels, envs, len(stages[0].Commands))
		}
	}

	enc = &Encoder{}
	w := enc.DockerfileWord("w", s)
	if !refused(t, enc, "w") {
		_, stages := parseDockerfile(t, "FROM scratch\nCOPY "+w+" /dst\nWORKDIR "+w+"\n")
		cp, ok := stages[0].Commands[0].(*instructions.CopyCommand)
		if !ok || len(stages[0].Commands) != 2 || len(cp.SourcePaths) != 1 || cp.SourcePaths[0] != s || cp.DestPath != "/dst" {
			t.Fatalf("COPY %.200q reads back as %+v", s, stages[0].Commands[0])
		}
	}

	enc = &Encoder{}
	args := []string{"/bin/x", s}
	j := enc.ExecForm([]string{"a", "b"}, args)
	if !refused(t, enc, "b") {
		_, stages := parseDockerfile(t, "FROM scratch\nCMD "+j+"\n")
		cmd, ok := stages[0].Commands[0].(*instructions.CmdCommand)
		if !ok || cmd.PrependShell || len(cmd.CmdLine) != 2 || cmd.CmdLine[1] != s {
			t.Fatalf("CMD [%.200q] reads back as %+v", s, stages[0].Commands[0])
		}
	}
}

// words parses src in POSIX mode and expands the words of its one simple
// command with an empty environment (a command substitution is an error:
// no Config.CmdSubst), so a word that runs anything fails.
func words(t *testing.T, src string) ([]string, error) {
	t.Helper()
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(src), "")
	if err != nil {
		t.Fatalf("mvdan.cc/sh cannot parse %s: %v", Show(src), err)
	}
	if len(f.Stmts) != 1 {
		t.Fatalf("%s is %d commands", Show(src), len(f.Stmts))
	}
	call, ok := f.Stmts[0].Cmd.(*syntax.CallExpr)
	if !ok || len(f.Stmts[0].Redirs) > 0 || f.Stmts[0].Background || len(call.Assigns) > 0 {
		t.Fatalf("%s is not one simple command", Show(src))
	}
	return expand.Fields(&expand.Config{Env: expand.ListEnviron()}, call.Args...)
}

func checkShell(t *testing.T, s string) {
	t.Helper()
	enc := &Encoder{}
	w := enc.ShellWord("w", s)
	if !refused(t, enc, "w") {
		got, err := words(t, "echo "+w)
		if err != nil || len(got) != 2 || got[1] != s {
			t.Fatalf("shell word %.200q reads back as %.200q (%v)", s, got, err)
		}
	}

	enc = &Encoder{}
	o := enc.ShellOperand("w", s)
	if !refused(t, enc, "w") && strings.HasPrefix(o, "-") {
		t.Fatalf("operand %.200q is written as an option: %s", s, o)
	}

	enc = &Encoder{}
	q := enc.ShellInQuotes("w", s)
	if !refused(t, enc, "w") {
		got, err := words(t, `echo "${UNSET:-`+q+`}" "${UNSET-`+q+`}" "`+q+`: $*"`)
		if err != nil || len(got) != 4 || got[1] != s || got[2] != s || got[3] != s+": " {
			t.Fatalf("%.200q in a default reads back as %.200q (%v)", s, got, err)
		}
		_, err = words(t, `: "${UNSET:?`+q+`}"`)
		var unset expand.UnsetParameterError
		if !errors.As(err, &unset) || unset.Message != s {
			t.Fatalf("%.200q as the message of ${UNSET:?...} reads back as %v", s, err)
		}
	}

	enc = &Encoder{}
	n := enc.EnvName("n", s)
	if !refused(t, enc, "n") {
		got, err := words(t, `echo "${`+n+`:-x}"`)
		if err != nil || len(got) != 2 || got[1] != "x" {
			t.Fatalf("name %.200q: %.200q (%v)", s, got, err)
		}
	}

	enc = &Encoder{}
	c := enc.ShellComment("c", s)
	if !refused(t, enc, "c") {
		got, err := words(t, "echo x # "+c)
		if err != nil || len(got) != 2 {
			t.Fatalf("comment %.200q: %.200q (%v)", s, got, err)
		}
	}
}

func checkCompose(t *testing.T, s string) {
	t.Helper()
	env := func(name string) (string, bool) {
		if name == "HOME" {
			return "/root", true
		}
		return "", false
	}
	enc := &Encoder{}
	v := enc.ComposeValue("v", s)
	if !refused(t, enc, "v") {
		got, err := template.Substitute(v, env)
		if err != nil || got != s {
			t.Fatalf("compose value %.200q reads back as %.200q (%v)", s, got, err)
		}
	}

	enc = &Encoder{}
	m := enc.ComposeMessage("m", s)
	if !refused(t, enc, "m") {
		_, err := template.Substitute("${UNSET:?"+m+"}", env)
		var missing *template.MissingRequiredError
		if !errors.As(err, &missing) || missing.Reason != s {
			t.Fatalf("compose message %.200q reads back as %v", s, err)
		}
	}

	enc = &Encoder{}
	d := enc.ComposeDevicePath("d", s)
	if !refused(t, enc, "d") && strings.Count(d+":"+d+":rwm", ":") != 2 {
		t.Fatalf("device %.200q splits into other fields", s)
	}
}

// TestVisibleIsTheSchemasLine: the encoders' notion of visible text is
// the schema's #Line (unicode.IsPrint), for every character class the
// schema's doc comment names.
func TestVisibleIsTheSchemasLine(t *testing.T) {
	for _, r := range []rune{'\n', '\r', '\t', 0, 0x7f, 0x85, 0x9b, 0x202a, 0x202e, 0x2066, 0x2069, 0x200e, 0x200f,
		0x061c, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0xad, 0x2028, 0x2029, 0xa0, 0xe0001, 0xe000} {
		if _, _, bad := invisible("a" + string(r)); !bad {
			t.Errorf("%U passes as visible text", r)
		}
	}
	for _, s := range []string{"plain text", "é ü 漢字 🙂", "a-b_c.d/e@f+g:h", "$`\"'\\{}"} {
		if r, _, bad := invisible(s); bad {
			t.Errorf("%q refused at %U", s, r)
		}
	}
	if _, _, bad := invisible("a\xffb"); !bad || !utf8.ValidString("a") {
		t.Error("invalid UTF-8 passes as visible text")
	}
	_ = bytes.MinRead
}
