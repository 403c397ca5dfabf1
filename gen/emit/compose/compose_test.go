package compose

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v2"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// load emits the compose file of the spec in dir and loads it back with
// compose-go's loader, interpolating from env.
func load(t *testing.T, dir string, env map[string]string) (*spec.Service, *types.Project, error) {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Emit(s, emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "compose.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, "compose.yaml"), Content: b}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("test", true); o.SkipConsistencyCheck = false })
	return s, p, err
}

func TestBridgeComposeLoads(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	s, p, err := load(t, "", map[string]string{"LIGHTHOUSE_AUTH_SECRET": secret})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := p.GetService(s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if v := svc.Environment["LIGHTHOUSE_AUTH_SECRET"]; v == nil || *v != secret {
		t.Errorf("secret not taken from the operator's environment: %v", v)
	}
	if len(svc.CapDrop) != 1 || svc.CapDrop[0] != "ALL" || len(svc.CapAdd) != 1 || svc.CapAdd[0] != "SYS_ADMIN" {
		t.Errorf("caps: drop %v add %v", svc.CapDrop, svc.CapAdd)
	}
	if len(svc.Devices) != 1 || svc.Devices[0].Source != "/dev/fuse" {
		t.Errorf("devices = %+v", svc.Devices)
	}
	if !strings.Contains(strings.Join(svc.SecurityOpt, ","), "apparmor:unconfined") {
		t.Errorf("security_opt = %v", svc.SecurityOpt)
	}
	if svc.HealthCheck == nil || strings.Join(svc.HealthCheck.Test, " ") != "CMD /usr/local/bin/lighthouse-bridge healthcheck" || *svc.HealthCheck.Retries != 3 {
		t.Errorf("healthcheck = %+v", svc.HealthCheck)
	}
	if lim := svc.Deploy.Resources.Limits; lim.NanoCPUs != 2 || lim.MemoryBytes != 1<<30 {
		t.Errorf("limits = %+v", lim)
	}
	if !svc.ReadOnly || svc.Entrypoint != nil || svc.Command != nil {
		t.Errorf("read_only %v, entrypoint %v, command %v", svc.ReadOnly, svc.Entrypoint, svc.Command)
	}
}

// TestSecretRequired: without the secret in the environment, compose
// refuses the file and names the variable.
func TestSecretRequired(t *testing.T) {
	_, _, err := load(t, "", map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "LIGHTHOUSE_AUTH_SECRET is required") {
		t.Errorf("load without the secret: %v", err)
	}
}

func TestNonFUSEServiceHasNoPrivileges(t *testing.T) {
	s, p, err := load(t, filepath.Join("..", "..", "..", "golden", "notes", "spec"), map[string]string{"NOTES_DB_PASSWORD": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := p.GetService(s.Name)
	if len(svc.CapAdd) != 0 || len(svc.Devices) != 0 || strings.Contains(strings.Join(svc.SecurityOpt, ","), "apparmor") {
		t.Errorf("privileges without FUSE: cap_add %v devices %v security_opt %v", svc.CapAdd, svc.Devices, svc.SecurityOpt)
	}
	if v := svc.Environment["NOTES_GREETING"]; v == nil || *v != "cost: $5 per note, 'quoted'" {
		t.Errorf("a literal $ did not survive interpolation: %v", v)
	}
}

// TestLabelsAsList: labels are written as a sequence of key=value (a
// mapping costs compose-go time in the square of its size, see Emit) and
// compose-go reads them back as the spec's labels, = in a value included.
func TestLabelsAsList(t *testing.T) {
	s, p, err := load(t, "", map[string]string{"LIGHTHOUSE_AUTH_SECRET": "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := p.GetService(s.Name)
	if !maps.Equal(map[string]string(svc.Labels), s.Labels) || len(s.Labels) == 0 {
		t.Errorf("labels read back %v, spec %v", svc.Labels, s.Labels)
	}
	b, err := Emit(s, emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Labels []string `yaml:"labels"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Services[s.Name].Labels; len(got) != len(s.Labels) || !slices.IsSorted(got) {
		t.Errorf("labels in compose.yaml: %q, want one sorted key=value per label", got)
	}
}
