package check

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update rewrites golden files instead of comparing against them.
var update = os.Getenv("LIGHTHOUSE_UPDATE") == "1"

// readArtifacts reads the four artifacts of a fixture folder.
func readArtifacts(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	return files
}

// TestGolden runs every fixture folder under testdata through Check (with
// shellcheck) and compares the findings with the folder's findings.txt.
// The good folder's golden is empty; each broken folder breaks one rule.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("testdata", e.Name()))
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("fixture folders missing: %v", dirs)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			fs, err := Check(context.Background(), readArtifacts(t, dir), Options{Dir: dir, Shellcheck: true})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, f := range fs {
				b.WriteString(f.String() + "\n")
			}
			golden := filepath.Join(dir, "findings.txt")
			if update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden (regenerate with LIGHTHOUSE_UPDATE=1): %v", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("findings differ (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEveryRuleHasAFixture: each rule is exercised by a broken folder whose
// golden contains that rule, and the good folder's golden is empty.
func TestEveryRuleHasAFixture(t *testing.T) {
	good, err := os.ReadFile("testdata/good/findings.txt")
	if err != nil || len(good) != 0 {
		t.Fatalf("good fixture must have an empty golden: %q %v", good, err)
	}
	for _, rule := range []string{RuleParse, RuleHeader, RuleDockerLint, RuleShellcheck, RuleProcess, RuleUser,
		RulePorts, RuleHealth, RulePrivileges, RuleEnv, RuleSecrets, RuleVolumes, RuleSelectors} {
		matches, _ := filepath.Glob("testdata/" + rule + "*/findings.txt")
		found := false
		for _, m := range matches {
			b, _ := os.ReadFile(m)
			found = found || strings.Contains(string(b), ": "+rule+": ")
		}
		if !found {
			t.Errorf("no testdata/%s*/ folder whose findings include rule %s", rule, rule)
		}
	}
}
