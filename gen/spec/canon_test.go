package spec

import (
	"testing"
)

// TestCanonicalJSON checks that one value has one text whatever the order
// of its keys, its white space or the spelling of its numbers.
func TestCanonicalJSON(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string // every spelling of one value
		want string
	}{
		{"key order", []string{
			`{"b":1,"a":{"y":[2,{"q":true,"p":null}],"x":"s"}}`,
			`{ "a" : { "x" : "s", "y" : [ 2, { "p" : null, "q" : true } ] }, "b" : 1 }`,
		}, `{"a":{"x":"s","y":[2,{"p":null,"q":true}]},"b":1}`},
		{"numbers", []string{
			`[1,-0,100,0.5,12345678901234567890123,1.5e300]`,
			`[1.0,0,1e2,5e-1,12345678901234567890123,15e299]`,
			`[1E0,-0.0,100.000,0.50,12345678901234567890123,1.5E+300]`,
		}, `[1,0,100,0.5,12345678901234567890123,1.5e+300]`},
		{"strings", []string{
			`{"<&>":"a\u003cb","é":"\u00e9\n"}`,
			`{"\u00e9":"é\n","\u003c\u0026\u003e":"a<b"}`,
		}, `{"<&>":"a<b","é":"é\n"}`},
		{"keys sort by bytes", []string{`{"b":0,"B":0,"a":0,"_":0}`}, `{"B":0,"_":0,"a":0,"b":0}`},
	} {
		for _, in := range c.in {
			got, err := canonicalJSON([]byte(in))
			if err != nil {
				t.Errorf("%s: %s: %v", c.name, in, err)
				continue
			}
			if string(got) != c.want {
				t.Errorf("%s: %s\n got %s\nwant %s", c.name, in, got, c.want)
			}
		}
	}
	for _, bad := range []string{`{"a":`, `1 2`, `[1e400]`} {
		if got, err := canonicalJSON([]byte(bad)); err == nil {
			t.Errorf("%s: no error, got %s", bad, got)
		}
	}
}
