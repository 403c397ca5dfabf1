package golden

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/audit"
	"github.com/lighthouse-project/lighthouse/gen/build"
	cases "github.com/lighthouse-project/lighthouse/gen/casetest"
	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// materialize, when set, writes each audit case run (select them with
// -run TestAudit/<case>) into <dir>/<case>/ as a folder the CLI audits:
//
//	go test ./golden -run TestAudit/hostnetwork -materialize /tmp/cases
//	cd /tmp/cases/hostnetwork && lighthouse-gen audit deploy [--spec spec] [-t ...]
var materialize = flag.String("materialize", "", "write each audit case into `dir`/<case> to run lighthouse-gen audit on by hand")

// TestAudit runs every audit/<case>.txtar: the artifacts the case's spec
// (spec/, else the embedded bridge spec) gives, changed as the case says
// and, unless the case says otherwise, without their generated headers
// (written by hand), are audited as `lighthouse-gen audit` does, and the
// findings must be the case's findings.txt (LIGHTHOUSE_UPDATE=1 rewrites
// them). A case whose expect section says "none" changes nothing a
// consumer tells apart and must have no finding; every other case must be
// caught, with a finding of each rule its expect section names. A case
// with src/ builds that Go module as the entry binary (--binary).
func TestAudit(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("audit", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 40 {
		t.Fatalf("found %d audit cases, want the hand-broken set (40 at least)", len(paths))
	}
	for _, p := range paths {
		c, err := cases.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(c.Name, func(t *testing.T) {
			root := t.TempDir()
			if *materialize != "" {
				root = filepath.Join(*materialize, c.Name)
				if err := os.RemoveAll(root); err != nil {
					t.Fatal(err)
				}
			}
			got := auditCase(t, c, root)
			if *materialize != "" {
				t.Logf("materialized in %s: cd there and run lighthouse-gen audit %s%s", root, cases.OutDir, cliFlags(c))
			}
			if slices.Contains(c.Expect, "none") {
				if got != "" {
					t.Errorf("audit/%s changes nothing the consumers tell apart, yet has findings:\n%s", c.Name, got)
				}
			} else if got == "" {
				t.Errorf("audit/%s is not caught: no finding", c.Name)
			}
			for _, rule := range c.Expect {
				if rule == "none" {
					continue
				}
				if !strings.Contains(got, ": "+rule+": ") {
					t.Errorf("audit/%s expects a %s finding; got:\n%s", c.Name, rule, got)
				}
			}
			compareCase(t, c, got)
		})
	}
}

// auditCase materializes c in root and audits it; the findings are
// printed as the CLI prints them from root (files relative to the
// artifacts' folder, spec positions relative to root).
func auditCase(t *testing.T, c *cases.Case, root string) string {
	t.Helper()
	l, files, err := c.Materialize(root, cases.HeaderNone)
	if err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(spec.Options{Dir: l.Spec, Tags: c.Tags})
	if err != nil {
		t.Fatal(cueerrors.Details(err, nil))
	}
	eo, err := build.ContextOptions(l.Out, l.Root, cases.Version)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := audit.Files(context.Background(), s, files, audit.Options{
		Check: check.Options{Dir: l.Out, Shellcheck: true, HandWritten: true},
		Cwd:   root,
		Emit:  eo,
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Src != "" {
		bin := buildBinary(t, l.Src, s.Entry.Package, s.Entry.Binary)
		module, err := audit.ModulePath(l.Root)
		if err != nil {
			t.Fatal(err)
		}
		bf, err := audit.Binary(s, bin, root, module)
		if err != nil {
			t.Fatal(err)
		}
		for i := range bf {
			bf[i].File = "src"
		}
		fs = append(fs, bf...)
	}
	var b strings.Builder
	for _, f := range check.SortFindings(fs) {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

// cliFlags are the audit flags that reproduce a case by hand.
func cliFlags(c *cases.Case) string {
	var f []string
	if len(c.Spec) > 0 {
		f = append(f, "--spec spec")
	}
	for _, tag := range c.Tags {
		f = append(f, "-t "+tag)
	}
	if len(c.Src) > 0 {
		f = append(f, "--binary <built from src/>")
	}
	if len(f) == 0 {
		return ""
	}
	return " " + strings.Join(f, " ")
}

// compareCase holds got to the case's findings.txt, or rewrites it with
// LIGHTHOUSE_UPDATE=1. A case without one fails.
func compareCase(t *testing.T, c *cases.Case, got string) {
	t.Helper()
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
}

// buildBinary builds the entry package of the Go module in src (or, when
// the module has no such folder, its first folder holding Go files),
// offline, into a temporary folder.
func buildBinary(t *testing.T, src, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if fi, err := os.Stat(filepath.Join(src, filepath.FromSlash(pkg))); err != nil || !fi.IsDir() {
		pkg = ""
		_ = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if pkg == "" && err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
				rel, _ := filepath.Rel(src, filepath.Dir(p))
				pkg = "./" + filepath.ToSlash(rel)
			}
			return err
		})
	}
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", src, err, out)
	}
	return bin
}

// TestAuditCasesNamed: every case file is a .txtar with a comment saying
// what it breaks.
func TestAuditCasesNamed(t *testing.T) {
	entries, err := os.ReadDir("audit")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".txtar") {
			t.Errorf("audit/%s: audit cases are .txtar files", e.Name())
			continue
		}
		c, err := cases.Load(filepath.Join("audit", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(c.Comment) == "" {
			t.Errorf("audit/%s: say in its comment what the case breaks", e.Name())
		}
		if slices.Contains(c.Expect, "") {
			t.Errorf("audit/%s: empty expect line", e.Name())
		}
	}
}
