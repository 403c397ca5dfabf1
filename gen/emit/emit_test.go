package emit

import (
	"bytes"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	spec := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		body  string
		after bool
		first string
	}{
		{"FROM x\n", false, "# Code generated"},
		{"#!/bin/sh\nset -eu\n", true, "#!/bin/sh"},
	} {
		f := AddHeader([]byte(tc.body), "devel", "svc", spec, tc.after)
		if !strings.HasPrefix(string(f), tc.first) {
			t.Errorf("file starts %q", f)
		}
		h, body, ok, err := ParseHeader(f)
		if err != nil || !ok || string(body) != tc.body || h.SpecDigest != spec || h.Source != "svc" || h.Version != "devel" {
			t.Errorf("ParseHeader = %+v %q %v %v", h, body, ok, err)
		}
		edited := bytes.Replace(f, []byte("\n"), []byte("\n\n"), 3)
		if _, _, ok, err := ParseHeader(edited); err == nil && ok {
			t.Errorf("hand-edited file %q passes as generated", edited)
		}
	}
	if _, _, _, err := ParseHeader([]byte("FROM x\n")); err == nil {
		t.Error("a file without header parsed")
	}
}
