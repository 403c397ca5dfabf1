package check

import (
	"strings"
	"testing"
)

// TestCanonicalSetSpellings: set commands that leave the shell's options
// in one state print alike; any other set, or another state, does not.
func TestCanonicalSetSpellings(t *testing.T) {
	canon := func(src string) string {
		f, err := parseShellLine(src)
		if err != nil || len(f.Stmts) != 1 {
			t.Fatalf("%s: %v", src, err)
		}
		return canonicalShell(f.Stmts[0])
	}
	want := canon("set -eu")
	for _, src := range []string{"set -e -u", "set -ue", "set -u -e", "set -o errexit -o nounset",
		"set -o nounset -e", "'set' \"-eu\"", "set -e -e -u", "set -ue -o errexit"} {
		if got := canon(src); got != want {
			t.Errorf("%s prints %q, set -eu %q", src, got, want)
		}
	}
	for _, src := range []string{"set -e", "set -eux", "set +eu", "set -eu -- a", "set -eu a", "set -o",
		"set -eZ", "set -o errexitt", "set -eux +x", "set -e \"$X\"", "FOO=1 set -eu", "sett -eu"} {
		if got := canon(src); got == want || (strings.Contains(src, "-o errexitt") && !strings.Contains(got, "errexitt")) {
			t.Errorf("%s prints %q, like set -eu", src, got)
		}
	}
}
