package check_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cases "github.com/lighthouse-project/lighthouse/gen/casetest"
	"github.com/lighthouse-project/lighthouse/gen/check"
)

// update rewrites the cases' findings instead of comparing against them.
var update = os.Getenv("LIGHTHOUSE_UPDATE") == "1"

// TestGolden runs every testdata/<case>.txtar through Check (with
// shellcheck): the artifacts the bridge's spec gives, headers stamped
// (so only what the case breaks fires), changed as the case says; the
// findings must be the case's findings.txt (LIGHTHOUSE_UPDATE=1 rewrites
// them). good.txtar changes nothing and has none; every other case has a
// finding of each rule its expect section names.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, p := range paths {
		c, err := cases.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(c.Name, func(t *testing.T) {
			l, files, err := c.Materialize(t.TempDir(), cases.HeaderStamped)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := check.Check(context.Background(), files, check.Options{Dir: l.Out, Shellcheck: true})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, f := range fs {
				b.WriteString(f.String() + "\n")
			}
			got := b.String()
			if slices.Contains(c.Expect, "none") != (got == "") {
				t.Errorf("%s expects %v, got:\n%s", c.Name, c.Expect, got)
			}
			for _, rule := range c.Expect {
				if rule != "none" && !strings.Contains(got, ": "+rule+": ") {
					t.Errorf("%s expects a %s finding; got:\n%s", c.Name, rule, got)
				}
			}
			if update {
				if err := c.SetWant([]byte(got)); err != nil {
					t.Fatal(err)
				}
				return
			}
			if c.Want == nil {
				t.Fatalf("%s has no findings.txt section (run with LIGHTHOUSE_UPDATE=1 to create it)", c.Path)
			}
			if string(c.Want) != got {
				t.Errorf("%s: findings differ\n--- want\n%s--- got\n%s", c.Path, c.Want, got)
			}
		})
	}
}

// TestEveryRuleHasACase: each rule is exercised by a case that expects it.
func TestEveryRuleHasACase(t *testing.T) {
	expected := map[string]bool{}
	paths, _ := filepath.Glob("testdata/*.txtar")
	for _, p := range paths {
		c, err := cases.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range c.Expect {
			expected[r] = true
		}
	}
	for _, rule := range []string{check.RuleParse, check.RuleHeader, check.RuleDockerLint, check.RuleShellcheck, check.RuleProcess, check.RuleUser,
		check.RulePorts, check.RuleHealth, check.RulePrivileges, check.RuleEnv, check.RuleSecrets, check.RuleVolumes, check.RuleSelectors, check.RuleWorkload} {
		if !expected[rule] {
			t.Errorf("no testdata case expects rule %s", rule)
		}
	}
}
