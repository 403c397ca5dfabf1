package build

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// TestGenerateRefusesArtifactsThatDisagree swaps in a compose emitter whose
// output overrides the process and adds a capability the spec does not
// grant: Generate must fail with findings naming both, and return no files.
func TestGenerateRefusesArtifactsThatDisagree(t *testing.T) {
	orig := Emitters[emit.Compose]
	t.Cleanup(func() { Emitters[emit.Compose] = orig })
	Emitters[emit.Compose] = func(s *spec.Service, o emit.Options) ([]byte, error) {
		b, err := orig(s, o)
		b = bytes.Replace(b, []byte("    cap_add:\n    - SYS_ADMIN\n"), []byte("    cap_add:\n    - SYS_ADMIN\n    - NET_ADMIN\n"), 1)
		b = bytes.Replace(b, []byte("    cap_drop:\n"), []byte("    command: [mcp]\n    cap_drop:\n"), 1)
		return b, err
	}
	_, files, err := Generate(Options{Out: t.TempDir(), Version: "test"})
	var fe *FindingsError
	if !errors.As(err, &fe) {
		t.Fatalf("Generate = %d files, %v; want a *FindingsError", len(files), err)
	}
	if files != nil {
		t.Errorf("Generate returned %d files with findings", len(files))
	}
	msg := err.Error()
	for _, want := range []string{
		"compose.yaml:2: header: hand-edited: this file no longer matches its own digest",
		"privileges: capabilities.add lacks NET_ADMIN, which compose cap_add has (compose.yaml:8)",
		"compose.yaml:8: privileges: compose cap_add NET_ADMIN is not in the spec's capabilities (spec: embedded:cue/bridge/bridge.cue:",
		"compose.yaml:11: process: command is set: it would become arguments of the start script (Dockerfile:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("findings lack %q:\n%s", want, msg)
		}
	}
}

// TestVerifyPassesTheGoldenSpecs: the compiler's real output for every
// example spec has no finding (the build of each would fail otherwise;
// this names the spec when it does).
func TestVerifyPassesTheGoldenSpecs(t *testing.T) {
	for _, o := range []Options{
		{Out: "../../deploy"},
		{Out: "../../golden/bridge-prebuilt/out", Tags: []string{"dockerfile_mode=prebuilt"}},
		{Out: "../../golden/notes/out", Spec: "../../golden/notes/spec"},
	} {
		o.Version, o.Shellcheck = "test", true
		s, files, err := Compile(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(t.Context(), s, files, o); err != nil {
			t.Errorf("%s: %v", o.Out, err)
		}
	}
}
