package initspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindModule(t *testing.T) {
	root := tree(t, `
-- go.mod --
// The module.
module example.com/m/v2

go 1.22.3

toolchain go1.23.4
-- cmd/x/main.go --
package main
`)
	m, err := FindModule(filepath.Join(root, "cmd", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Root != root || m.Path != "example.com/m/v2" || m.GoVersion != "1.23.4" {
		t.Errorf("module %+v", m)
	}
}

func TestFindModuleGoVersion(t *testing.T) {
	for gomod, want := range map[string]string{
		"module m\n":                              DefaultGoVersion,
		"module m\ngo 1.22\n":                     "1.22",
		"module m\ngo 1.21rc1\n":                  "1.21rc1",
		"module m\ngo 1.22\ntoolchain default\n":  "1.22",
		"module m\ngo 1.22\ntoolchain go1.23.0\n": "1.23.0",
	} {
		root := tree(t, "-- go.mod --\n"+gomod)
		m, err := FindModule(root)
		if err != nil {
			t.Errorf("%q: %v", gomod, err)
			continue
		}
		if m.GoVersion != want {
			t.Errorf("%q: Go version %q, want %q", gomod, m.GoVersion, want)
		}
	}
}

// TestFindModuleRefuses: go.mod files the go command would not build
// with are refused with the reason.
func TestFindModuleRefuses(t *testing.T) {
	for gomod, want := range map[string]string{
		"go 1.22\n":                       "has no module line",
		"module \"a b\"\n":                `module path "a b" is not one the go command builds: invalid char ' '`,
		"module \"x\\\"}\\n y: 1\"\n":     "is not one the go command builds",
		"module m\nrequire (\n":           "go.mod:",
		"module m\ngo 1.22\nbogus line\n": "unknown directive",
	} {
		root := tree(t, "-- go.mod --\n"+gomod)
		if _, err := FindModule(root); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", gomod, err, want)
		}
	}
	big := t.TempDir()
	if err := os.WriteFile(filepath.Join(big, "go.mod"), []byte("module m\n"+strings.Repeat("// x\n", maxGoMod/5+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindModule(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a huge go.mod: %v", err)
	}
}

func TestFindModuleNone(t *testing.T) {
	dir := t.TempDir()
	if _, err := os.Stat("/go.mod"); err == nil {
		t.Skip("/go.mod exists")
	}
	if _, err := FindModule(dir); err == nil {
		t.Skip("a go.mod above the temporary folder")
	} else {
		var ne *NotInModuleError
		if !errors.As(err, &ne) || !strings.Contains(err.Error(), "is not inside a Go module") {
			t.Errorf("error %v", err)
		}
	}
}
