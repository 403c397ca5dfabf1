package live

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunStopsAtGenerate needs no Docker: a failure before anything is
// started skips every later step, still cleans up, and removes the build
// context it made.
func TestRunStopsAtGenerate(t *testing.T) {
	var seen string
	rep := Run(context.Background(), Options{Mutate: func(dir string) error {
		seen = dir
		if _, err := os.Stat(filepath.Join(dir, "compose.yaml")); err != nil {
			t.Errorf("Mutate called before the artifacts were written: %v", err)
		}
		return errors.New("boom")
	}})
	if rep.OK || rep.FailedStep != StepGenerate {
		t.Fatalf("report OK=%v failed at %q, want generate", rep.OK, rep.FailedStep)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "mutate artifacts: boom") {
		t.Errorf("Err = %v", err)
	}
	for _, s := range rep.Steps[1 : len(rep.Steps)-1] {
		if s.Status != "skipped" {
			t.Errorf("step %s ran after a fatal failure: %+v", s.Name, s)
		}
	}
	if last := rep.Steps[len(rep.Steps)-1]; last.Name != StepCleanup || last.Status != "ok" {
		t.Errorf("cleanup: %+v", last)
	}
	if seen == "" {
		t.Fatal("Mutate was not called")
	}
	if _, err := os.Stat(filepath.Dir(seen)); !os.IsNotExist(err) {
		t.Errorf("build context %s left behind (stat: %v)", filepath.Dir(seen), err)
	}
}

// TestRunSpecError: a spec without the tags verify sets is told which
// tags it must declare.
func TestRunSpecError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.cue"), []byte("package bad\n\nname: 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := Run(context.Background(), Options{Spec: dir})
	if rep.FailedStep != StepGenerate {
		t.Fatalf("failed at %q, want generate: %v", rep.FailedStep, rep.Err())
	}
	for _, want := range []string{`no tag for "dockerfile_mode"`, "the spec must declare them"} {
		if !strings.Contains(rep.Err().Error(), want) {
			t.Errorf("error %q does not say %q", rep.Err(), want)
		}
	}
}
