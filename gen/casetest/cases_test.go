package casetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPatch: hunks apply where their context and removed lines stand,
// wherever that is in the file; a hunk that does not apply, or could
// apply twice, or has nothing to place it by, is an error, never a no-op.
func TestPatch(t *testing.T) {
	base := []byte("a\nb\nc\nb\nd\n")
	for _, c := range []struct {
		name, patch, want, err string
	}{
		{"replace", "@@\n a\n-b\n+B\n", "a\nB\nc\nb\nd\n", ""},
		{"insert", "@@ after c\n c\n+x\n", "a\nb\nc\nx\nb\nd\n", ""},
		{"two hunks", "@@\n-a\n@@\n d\n+e\n", "b\nc\nb\nd\ne\n", ""},
		{"empty context line", "@@\n-c\n+\n", "a\nb\n\nb\nd\n", ""},
		{"ambiguous", "@@\n-b\n+x\n", "", "matches at lines 2 and 4"},
		{"missing", "@@\n-z\n", "", "does not apply"},
		{"no anchor", "@@\n+x\n", "", "cannot be placed"},
		{"bad line", "@@\n*a\n", "", "starts with none of"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Patch(base, []byte(c.patch))
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("err = %v, want %q", err, c.err)
			case c.err == "" && err != nil:
				t.Errorf("err = %v", err)
			case c.err == "" && string(got) != c.want:
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestLoadRefusesUnknownSections: a misspelt section is an error, so a
// case cannot check nothing by accident.
func TestLoadRefusesUnknownSections(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.txtar")
	for _, body := range []string{"-- compose.yml.patch --\n", "-- delete --\ncompose.yml\n", "-- header --\nmaybe\n"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil {
			t.Errorf("%q loaded", body)
		}
	}
}
