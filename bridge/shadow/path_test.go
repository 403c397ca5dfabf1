package shadow

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	ok := map[string]string{
		"main.go":                       "main.go",
		"src/app/main.go":               "src/app/main.go",
		"./src//a.txt":                  "src/a.txt",
		"src/./b/":                      "src/b",
		"dir/.hidden":                   "dir/.hidden",
		"naïve/ü.txt":                   "naïve/ü.txt",
		"a..b":                          "a..b",
		strings.Repeat("n", MaxNameLen): strings.Repeat("n", MaxNameLen),
	}
	for in, want := range ok {
		got, err := CleanPath(in)
		if err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", ".", "./", "/etc/passwd", "/", "..", "../x", "a/../../x", "a/../b", "a/..",
		"a\x00b", "bad\xffutf8",
		strings.Repeat("n", MaxNameLen+1),
		"d/" + strings.Repeat("n", MaxNameLen+1),
		strings.Repeat("abcdefg/", MaxPathLen/8+1),
	}
	for _, in := range bad {
		got, err := CleanPath(in)
		if err == nil {
			t.Errorf("CleanPath(%.40q) = %q, want an error", in, got)
		} else if !errors.Is(err, ErrInvalidPath) {
			t.Errorf("CleanPath(%.40q) error %v does not wrap ErrInvalidPath", in, err)
		}
	}
}
