package audit

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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

// TestSeedHealthCheck: the seed's health check, curl against a port and a
// path the spec does not declare, is three findings: curl is forbidden in
// the image, the port is not the health port, the path is not a health path.
// A RUN installing curl is forbidden too.
func TestSeedHealthCheck(t *testing.T) {
	files := readOut(t, "../../golden/audit/clean")
	d := strings.Replace(string(files[check.FileDockerfile]),
		`CMD ["/usr/local/bin/lighthouse-bridge","healthcheck"]`,
		`CMD ["curl", "-f", "http://localhost:8080/healthz"]`, 1)
	d = strings.Replace(d, "\nLABEL ", "\nRUN apk add --no-cache curl\nLABEL ", 1)
	files[check.FileDockerfile] = []byte(d)
	bridge := load(t, "")
	p, _ := check.Parse(context.Background(), files, check.Options{Dir: "../../golden/audit/clean"})
	var got []string
	for _, f := range Against(bridge, p, "", map[string]bool{check.FileDockerfile: true}) {
		if f.File == check.FileDockerfile {
			got = append(got, f.Rule+": "+f.Message[:strings.Index(f.Message, " (spec:")])
		}
	}
	want := []string{
		`forbidden: HEALTHCHECK runs curl, which the spec forbids in the image`,
		`forbidden: RUN installs or runs curl, which the spec forbids in the image`,
		`health: HEALTHCHECK probes path /healthz, which the spec does not declare (liveness /health, readiness /status)`,
		`health: HEALTHCHECK probes port 8080, but the spec's health port is api (8765)`,
		`health: HEALTHCHECK runs ["CMD" "curl" "-f" "http://localhost:8080/healthz"], but the spec's health check is ["CMD" "/usr/local/bin/lighthouse-bridge" "healthcheck"]`,
	}
	slices.Sort(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Dockerfile findings (-want +got):\n%s", d)
	}
}
