package script

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// loadSpec loads a spec whose model each case then changes directly: the
// schema would refuse these strings first, and these tests hold the
// emitter's own defence.
func loadSpec(t *testing.T, dir string) *spec.Service {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	notesDir    = filepath.Join("..", "..", "..", "golden", "notes", "spec")
	testOptions = emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"}
)

func env(t *testing.T, s *spec.Service, name string) *spec.EnvVar {
	t.Helper()
	for i := range s.Env {
		if s.Env[i].Name == name {
			return &s.Env[i]
		}
	}
	t.Fatalf("no variable %s", name)
	return nil
}

// TestRefusesWhatAContextCannotCarry: a string that would run as a
// command, or that shells read differently, fails the emitter with an
// encode.Error naming the spec field.
func TestRefusesWhatAContextCannotCarry(t *testing.T) {
	for _, c := range []struct {
		name, dir, field string
		set              func(*testing.T, *spec.Service)
	}{
		{"command substitution in an optional path default", notesDir, "env.NOTES_CACHE_DIR.value", func(t *testing.T, s *spec.Service) {
			env(t, s, "NOTES_CACHE_DIR").Value = "/tmp/$(touch /tmp/pwned)"
		}},
		{"} ends the default early", notesDir, "env.NOTES_CACHE_DIR.value", func(t *testing.T, s *spec.Service) {
			env(t, s, "NOTES_CACHE_DIR").Value = "/tmp}$(id)"
		}},
		{"backtick in a required variable's description", notesDir, "env.NOTES_DATA_DIR.description", func(t *testing.T, s *spec.Service) {
			env(t, s, "NOTES_DATA_DIR").Description = "dir `touch /tmp/pwned`"
		}},
		{"quote in a required variable's description (bash and dash disagree)", notesDir, "env.NOTES_DATA_DIR.description", func(t *testing.T, s *spec.Service) {
			env(t, s, "NOTES_DATA_DIR").Description = "the service's data"
		}},
		{"newline in an argument", notesDir, "entry.args[0]", func(t *testing.T, s *spec.Service) { s.Entry.Args[0] = "--x\nid" }},
		{"bidi control in an argument", notesDir, "entry.args[0]", func(t *testing.T, s *spec.Service) { s.Entry.Args[0] = "--x\u2066" }},
		{"brace in a variable name", notesDir, `env."A}B"`, func(t *testing.T, s *spec.Service) { env(t, s, "NOTES_LISTEN").Name = "A}B" }},
		{"command substitution in the FUSE mount default", "", "env.LIGHTHOUSE_MOUNT_POINT.value", func(t *testing.T, s *spec.Service) {
			s.FUSE.MountPoint = "/mnt/$(id)"
			env(t, s, "LIGHTHOUSE_MOUNT_POINT").Value = "/mnt/$(id)"
		}},
		{"newline in the FUSE reason", "", `security.devices."/dev/fuse".reason`, func(t *testing.T, s *spec.Service) {
			for i := range s.Security.Devices {
				s.Security.Devices[i].Reason = "why\nid"
			}
		}},
		{"newline in the binary", notesDir, "entry.binary", func(t *testing.T, s *spec.Service) { s.Entry.Binary = "notes\nid" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := loadSpec(t, c.dir)
			c.set(t, s)
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

// TestArgumentsStayWords: arguments with shell syntax are quoted into
// single words of the exec command, which reads them back as they are,
// and running the script under every shell creates no file.
func TestArgumentsStayWords(t *testing.T) {
	s := loadSpec(t, notesDir)
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	s.Entry.Args = []string{"$(touch " + pwned + ")", "`touch " + pwned + "`", "it's", "a b", "--x=1", "*", "~", "#c", ""}
	b, err := Emit(s, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(string(b)), "start.sh")
	if err != nil {
		t.Fatal(err)
	}
	last, ok := f.Stmts[len(f.Stmts)-1].Cmd.(*syntax.CallExpr)
	if !ok || len(last.Args) != 2+len(s.Entry.Args) {
		t.Fatalf("last command is not exec with %d words", 2+len(s.Entry.Args))
	}
	for i, w := range last.Args[2:] {
		var got strings.Builder
		for _, p := range w.Parts {
			switch p := p.(type) {
			case *syntax.Lit: // a bare word: \x is x
				for j := 0; j < len(p.Value); j++ {
					if p.Value[j] == '\\' && j+1 < len(p.Value) {
						j++
					}
					got.WriteByte(p.Value[j])
				}
			case *syntax.SglQuoted:
				got.WriteString(p.Value)
			case *syntax.DblQuoted:
				for _, q := range p.Parts {
					l, ok := q.(*syntax.Lit)
					if !ok {
						t.Fatalf("argument %d expands: %s", i, strings.TrimSpace(string(b)))
					}
					got.WriteString(strings.NewReplacer(`\$`, `$`, "\\`", "`", `\"`, `"`, `\\`, `\`).Replace(l.Value))
				}
			default:
				t.Fatalf("argument %d expands (%T)", i, p)
			}
		}
		if got.String() != s.Entry.Args[i] {
			t.Errorf("argument %d reads %q, want %q", i, got.String(), s.Entry.Args[i])
		}
	}
	// The script execs a binary that does not exist here; what matters
	// is that nothing before it ran the arguments.
	script := filepath.Join(dir, "start.sh")
	if err := os.WriteFile(script, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells {
		run(t, sh, script, []string{"NOTES_DATA_DIR=" + dir, "NOTES_CACHE_DIR=" + dir, "NOTES_DB_PASSWORD=x"})
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("%s ran an argument as a command", sh[0])
		}
	}
}

// TestQuotedLiteralsPassShellcheck: arguments quoted as literal text
// ($, backtick, backslash, a leading ~ in single quotes) are what the
// spec says, and shellcheck (which vet runs) is told so.
func TestQuotedLiteralsPassShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("shellcheck not installed; .ci/run installs it")
		}
		t.Skip("shellcheck not installed")
	}
	s := loadSpec(t, notesDir)
	s.Entry.Args = []string{"$(id)", "`id`", `\`, "~root", "--x=$HOME"}
	b, err := Emit(s, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "start.sh")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("shellcheck", "-s", "sh", p).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
