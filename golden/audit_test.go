package golden

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/audit"
	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// auditRules names the one rule each audit/<case>/ folder breaks: every
// finding of the case must be of that rule. clean breaks none. A new
// folder must be listed here.
var auditRules = map[string]string{
	"clean":                "",
	"process-subcommand":   check.RuleProcess,
	"process-program":      check.RuleProcess,
	"forbidden-binary":     audit.RuleForbidden,
	"forbidden-module":     audit.RuleForbidden,
	"health-undeclared":    check.RuleHealth,
	"fuse-without-mount":   check.RulePrivileges,
	"env-undeclared":       check.RuleEnv,
	"env-value-compose":    check.RuleEnv,
	"env-value-configmap":  check.RuleEnv,
	"env-value-dockerfile": check.RuleEnv,
	"env-script-export":    check.RuleEnv,
	"user-mismatch":        check.RuleUser,
	"ports-mismatch":       check.RulePorts,
	"volumes-mismatch":     check.RuleVolumes,
	"secret-literal":       check.RuleSecrets,
	"hand-edited":          check.RuleHeader,
	"stale":                check.RuleHeader,
	"missing":              check.RuleMissing,
}

// TestAudit audits every hand-broken folder under audit/ (against its own
// spec/ or the embedded bridge spec) and compares the findings, as
// `lighthouse-gen audit` prints them, with the folder's findings.txt. A
// folder with src/ holds a Go module that is built and audited as the
// entry binary (--binary).
func TestAudit(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("audit")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		seen = append(seen, name)
		t.Run(name, func(t *testing.T) {
			rule, ok := auditRules[name]
			if !ok {
				t.Fatalf("audit/%s is not in auditRules: say which rule it breaks", name)
			}
			dir := filepath.Join("audit", name)
			o := spec.Options{}
			if _, err := os.Stat(filepath.Join(dir, "spec")); err == nil {
				o.Dir = filepath.Join(dir, "spec")
			}
			s, err := spec.Load(o)
			if err != nil {
				t.Fatal(cueerrors.Details(err, nil))
			}
			fs, err := audit.Dir(context.Background(), s, dir, true, wd)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "src")); err == nil {
				bin := buildBinary(t, filepath.Join(dir, "src"), s.Entry.Binary)
				bf, err := audit.Binary(s, bin, wd)
				if err != nil {
					t.Fatal(err)
				}
				for i := range bf {
					bf[i].File = filepath.ToSlash(filepath.Join(dir, "src"))
				}
				fs = append(fs, bf...)
			}
			var b strings.Builder
			for _, f := range check.SortFindings(fs) {
				b.WriteString(f.String() + "\n")
				if f.Rule != rule {
					t.Errorf("audit/%s breaks %q, yet has a %s finding: %s", name, rule, f.Rule, f)
				}
			}
			if (rule == "") != (b.Len() == 0) {
				t.Errorf("audit/%s (rule %q) has %d bytes of findings", name, rule, b.Len())
			}
			compare(t, filepath.Join(dir, "findings.txt"), []byte(b.String()))
		})
	}
	for name := range auditRules {
		if !slices.Contains(seen, name) {
			t.Errorf("auditRules lists %s, but audit/%s does not exist", name, name)
		}
	}
}

// buildBinary builds the Go module in src, offline, into a temporary folder.
func buildBinary(t *testing.T, src, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", src, err, out)
	}
	return bin
}
