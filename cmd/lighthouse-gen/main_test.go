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
// their expected output.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("LIGHTHOUSE_UPDATE") == "1",
	})
}
