package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// specArg finds the spec folder an example command line passes.
var specArg = regexp.MustCompile(`(?m)^  lighthouse-gen .*--spec (\S+)`)

// TestHelpExamplesExist: every --spec folder a help text's example names
// exists in the repository, so an example can be copied and run from a
// checkout.
func TestHelpExamplesExist(t *testing.T) {
	root := newRootCmd()
	seen := 0
	for _, c := range append(root.Commands(), root) {
		for _, m := range specArg.FindAllStringSubmatch(c.Long, -1) {
			seen++
			if _, err := os.Stat(filepath.Join("..", "..", m[1], "")); err != nil {
				t.Errorf("%s --help: example --spec %s: %v", c.Name(), m[1], err)
			}
		}
	}
	if seen < 3 {
		t.Errorf("found %d --spec examples in the help texts, want at least 3", seen)
	}
}
