package encode

import (
	"io/fs"
	"regexp"
	"testing"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

// TestLineIsOneRule: the schema's #Line pattern and the encoders' visible
// text are one rule, written twice (CUE for the spec, Go for the
// emitters): for every Unicode code point they agree.
func TestLineIsOneRule(t *testing.T) {
	src, err := fs.ReadFile(cuemod.FS, "schema/service.cue")
	if err != nil {
		t.Fatal(err)
	}
	v := cuecontext.New().CompileBytes(src)
	re, err := v.LookupPath(cue.ParsePath("#LineRE")).String()
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(re)
	buf := make([]byte, 0, 8)
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // surrogates are not in UTF-8 text
		}
		buf = utf8.AppendRune(buf[:0], r)
		_, _, bad := invisible(string(buf))
		if line.Match(buf) == bad {
			t.Fatalf("%U: #Line says %v, the encoders say %v", r, line.Match(buf), !bad)
		}
	}
}
