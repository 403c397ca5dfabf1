package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain registers the CLI in-process, so scripts run lighthouse-gen
// without building a binary.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"lighthouse-gen": func() { os.Exit(Main()) },
	})
}

// TestScript runs testdata/script/*.txtar; LIGHTHOUSE_UPDATE=1 rewrites
// their expected output. $GOBINARY is a Go binary that is not the
// bridge (this test binary), for audit --binary.
func TestScript(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("LIGHTHOUSE_UPDATE") == "1",
		Setup: func(env *testscript.Env) error {
			env.Setenv("GOBINARY", exe)
			return nil
		},
	})
}
