package compose

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

var (
	notesDir    = filepath.Join("..", "..", "..", "golden", "notes", "spec")
	testOptions = emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"}
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

// TestRefusesWhatAContextCannotCarry: a string compose would read as
// another interpolation or another device fails the emitter with an
// encode.Error naming the spec field.
func TestRefusesWhatAContextCannotCarry(t *testing.T) {
	for _, c := range []struct {
		name, dir, field string
		set              func(*spec.Service)
	}{
		{"} in a secret's description ends the interpolation", notesDir, "env.NOTES_DB_PASSWORD.description", func(s *spec.Service) {
			s.Env[4].Description = "password} ${HOME"
		}},
		{"$ in a secret's description", notesDir, "env.NOTES_DB_PASSWORD.description", func(s *spec.Service) {
			s.Env[4].Description = "costs $5"
		}},
		{": in a device path", "", `security.devices."/dev/fuse:/etc/shadow"`, func(s *spec.Service) {
			s.Security.Devices[0].Name = "/dev/fuse:/etc/shadow"
		}},
		{"newline in an env value", notesDir, "env.NOTES_LISTEN.value", func(s *spec.Service) { s.Env[0].Value = ":8080\nx: y" }},
		{"bidi control in a health word", notesDir, "entry.health[0]", func(s *spec.Service) { s.Entry.Health[0] = "probe\u202e" }},
		{"= in a label key (labels are written key=value)", notesDir, `labels."team=evil"`, func(s *spec.Service) { s.Labels["team=evil"] = "x" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := loadSpec(t, c.dir)
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

// TestDollarStaysLiteral: compose interpolates every value, so a $ in any
// spec string is written $$ and loads back as itself, not as the
// operator's variable.
func TestDollarStaysLiteral(t *testing.T) {
	s := loadSpec(t, notesDir)
	s.Entry.Health = []string{"probe", "$HOME", "${PATH}"}
	s.Labels["team"] = "$USER"
	s.Labels["$HOME"] = "key"
	b, err := Emit(s, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, "compose.yaml"), Content: b}},
		Environment: types.Mapping{"HOME": "/root", "PATH": "/bin", "USER": "root", "NOTES_DB_PASSWORD": "pw"},
	}, func(o *loader.Options) { o.SetProjectName("test", true) })
	if err != nil {
		t.Fatal(err)
	}
	svc, err := p.GetService(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CMD", "/usr/local/bin/notes", "probe", "$HOME", "${PATH}"}
	if got := svc.HealthCheck.Test; len(got) != len(want) || got[3] != want[3] || got[4] != want[4] {
		t.Errorf("healthcheck test = %q, want %q", got, want)
	}
	if got := svc.Labels["team"]; got != "$USER" {
		t.Errorf("label team = %q, want $USER", got)
	}
	if got, ok := svc.Labels["$HOME"]; !ok || got != "key" {
		t.Errorf("labels = %q, want $HOME=key", svc.Labels)
	}
}
