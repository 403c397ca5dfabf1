package spec

import (
	"fmt"
	"testing"
)

// TestUnclosed names the bracket a file leaves open: by indentation when
// an outdented "}" closes it, by kind when a bracket of another kind
// closes it, else the innermost still open at the end.
func TestUnclosed(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      string // line:col, "" for none
	}{
		{"balanced", "a: {\n\tb: [1, (2)]\n}\n", ""},
		{"last struct", "a: {\n\tb: 1\n", "1:4"},
		{"inner struct, outdented close", "a: {\n\tb: {\n\tc: 1\n}\nd: {\n\te: 1\n}\n", "2:5"},
		{"one-line struct", "a: {\n\tb: {c: 1, d: 2\n\te: {f: 1}\n}\n", "2:5"},
		{"list closed by a brace", "a: {\n\tb: [\"x\"\n}\n", "2:5"},
		{"paren closed by a brace", "a: {\n\tb: (1 + 2\n}\n", "2:5"},
		{"brackets in strings and comments", "a: \"{\" // {\nb: {\n\tc: \"[\"\n", "2:4"},
		{"multi-line string", "a: \"\"\"\n\t{\n\t\"\"\"\nb: 1\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, ok := unclosed("x.cue", []byte(c.src))
			got := ""
			if ok {
				got = fmt.Sprintf("%d:%d", b.pos.Line(), b.pos.Column())
			}
			if got != c.want {
				t.Errorf("unclosed = %q, want %q", got, c.want)
			}
		})
	}
}
