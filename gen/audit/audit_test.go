package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

func load(t *testing.T, dir string) *spec.Service {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readOut(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestAgreeingArtifactsOfAnotherSpec: the notes service's artifacts agree
// with each other, so gen/check alone passes them; held against the
// bridge's spec they are wrong in every respect, and each rule says so.
func TestAgreeingArtifactsOfAnotherSpec(t *testing.T) {
	notes := readOut(t, "../../golden/notes/out")
	for name, data := range notes { // no headers: only the spec-side rules speak
		_, body, _ := strings.Cut(string(data), "DO NOT EDIT.\n")
		_, body, _ = strings.Cut(body, "\n")
		if name == check.FileScript {
			body = "#!/bin/sh\n" + body
		}
		notes[name] = []byte(body)
	}
	alone, err := check.Check(context.Background(), notes, check.Options{Dir: "../../golden/notes/out", HandWritten: true})
	if err != nil || len(alone) != 0 {
		t.Fatalf("gen/check on the notes artifacts: %v %v", alone, err)
	}
	bridge := load(t, "")
	fs, err := Files(context.Background(), bridge, notes, Options{Check: check.Options{Dir: "../../golden/notes/out", HandWritten: true}})
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]int{}
	for _, f := range fs {
		rules[f.Rule]++
		if !strings.Contains(f.Message, "(spec: embedded:cue/bridge/bridge.cue:") && !strings.Contains(f.Message, "(spec: embedded:cue/schema/") {
			t.Errorf("finding does not name the spec position: %s", f)
		}
	}
	for _, r := range []string{check.RuleProcess, check.RuleUser, check.RulePorts, check.RuleHealth, check.RulePrivileges, check.RuleEnv, check.RuleVolumes} {
		if rules[r] == 0 {
			t.Errorf("no %s finding; got %v", r, fs)
		}
	}
}

// TestBinaryNotGo: a file that is not a Go binary is an error, never a pass.
func TestBinaryNotGo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Binary(load(t, ""), p, ""); err == nil {
		t.Error("a shell script passed as a Go binary")
	}
}

// TestBinaryOwnModules: the test binary itself links no forbidden module
// (the bridge spec forbids MCP SDKs), so Binary reads it and finds nothing.
func TestBinaryOwnModules(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Binary(load(t, ""), exe, "")
	if err != nil || len(fs) != 0 {
		t.Errorf("Binary(test binary) = %v, %v", fs, err)
	}
}
