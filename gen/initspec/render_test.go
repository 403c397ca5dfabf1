package initspec

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
)

func goodValues() Values {
	return Values{Name: "notes", Description: "notes, the Go program example.com/m/cmd/notes", Package: "./cmd/notes", Binary: "notes", Builder: "golang:1.22"}
}

// fields are the paths the starter sets from Values.
var fields = map[string]func(Values) string{
	"name":          func(v Values) string { return v.Name },
	"description":   func(v Values) string { return v.Description },
	"entry.package": func(v Values) string { return v.Package },
	"entry.binary":  func(v Values) string { return v.Binary },
	"image.builder": func(v Values) string { return v.Builder },
}

// evaluate compiles a rendered spec and checks that each value is there
// exactly and that the spec has the template's fields and no others.
func evaluate(t *testing.T, out []byte, v Values) {
	t.Helper()
	val := cuecontext.New().CompileBytes(out)
	if err := val.Err(); err != nil {
		t.Fatalf("the rendered spec does not compile: %v\n%s", err, out)
	}
	for path, get := range fields {
		got, err := val.LookupPath(cue.ParsePath(path)).String()
		if err != nil || got != get(v) {
			t.Errorf("%s = %q, %v; want %q", path, got, err, get(v))
		}
	}
	var labels []string
	it, err := val.Fields()
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		labels = append(labels, it.Selector().String())
	}
	want := []string{"name", "description", "entry", "image", "ports", "health", "env", "volumes", "security", "resources", "workload"}
	if !slices.Equal(labels, want) {
		t.Errorf("top-level fields %v, want %v", labels, want)
	}
	if ref, _ := val.LookupPath(cue.ParsePath("image.ref")).String(); ref != v.Name+":0.1.0" {
		t.Errorf("image.ref = %q", ref)
	}
}

func TestRender(t *testing.T) {
	v := goodValues()
	out, err := Render(v)
	if err != nil {
		t.Fatal(err)
	}
	evaluate(t, out, v)
	formatted, err := format.Source(out)
	if err != nil || !bytes.Equal(formatted, out) {
		t.Errorf("the starter is not as cue fmt writes it (%v):\n%s", err, formatted)
	}
	if bytes.Contains(out, []byte("@")) && bytes.Contains(out, []byte("\"@")) {
		t.Errorf("a placeholder is left:\n%s", out)
	}
	for _, w := range []string{"\npackage service\n", "\nname: \"notes\"\n", "\tpackage: \"./cmd/notes\"\n", "lighthouse-gen explain health\n"} {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("the starter lacks %q", w)
		}
	}
}

// TestTemplateFormatted keeps the template as cue fmt writes it, so the
// spec init writes is too.
func TestTemplateFormatted(t *testing.T) {
	formatted, err := format.Source(starter)
	if err != nil || !bytes.Equal(formatted, starter) {
		t.Errorf("starter.cue.tmpl is not cue fmt'ed (%v); cue fmt writes:\n%s", err, formatted)
	}
}

// TestRenderValuesAreData: strings that are CUE syntax stay strings.
func TestRenderValuesAreData(t *testing.T) {
	for _, hostile := range []string{
		`x" injected: true "`,
		`\(name)`,
		`"""`,
		`#"raw"#`,
		`x } injected: { y`,
		`// comment`,
		`\u0000 \x00 ` + "\x7f\u2028\u00e9",
		`@name@`,
		`'bytes'`,
	} {
		v := goodValues()
		v.Description, v.Builder, v.Package = hostile, hostile, "./"+hostile
		out, err := Render(v)
		if err != nil {
			t.Errorf("%q: %v", hostile, err)
			continue
		}
		evaluate(t, out, v)
	}
}

func TestRenderRefuses(t *testing.T) {
	for what, change := range map[string]func(*Values){
		"is not a service name":                      func(v *Values) { v.Name = "Bad Name" },
		"binary name":                                func(v *Values) { v.Binary = "Bad" },
		"starting with ./":                           func(v *Values) { v.Package = "cmd/x" },
		"description \"a\\nb\" is not one line":      func(v *Values) { v.Description = "a\nb" },
		"builder \"\\xff\" is not one line of UTF-8": func(v *Values) { v.Builder = "\xff" },
		"description is empty":                       func(v *Values) { v.Description = "" },
	} {
		v := goodValues()
		change(&v)
		if _, err := Render(v); err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("want an error saying %q, got %v", what, err)
		}
	}
}

// TestRenderPlaceholders: a template placeholder without a value, or a
// value without a placeholder, is an error, not a literal "@key@" in a
// user's spec.
func TestRenderPlaceholders(t *testing.T) {
	orig := starter
	t.Cleanup(func() { starter = orig })
	starter = bytes.Replace(orig, []byte(`"@builder@"`), []byte(`"@nosuch@"`), 1)
	if _, err := Render(goodValues()); err == nil || !strings.Contains(err.Error(), "@nosuch@") || !strings.Contains(err.Error(), "@builder@ (unused)") {
		t.Errorf("error %v", err)
	}
}

// FuzzRender: any values Render accepts come out as exactly those
// strings, in a spec with the template's fields and no others.
func FuzzRender(f *testing.F) {
	f.Add("notes, the Go program example.com/m/cmd/notes", "./cmd/notes", "golang:1.22")
	f.Add(`x" y: 1 "`, `./\(z)`, `"""`)
	f.Fuzz(func(t *testing.T, desc, pkg, builder string) {
		v := goodValues()
		v.Description, v.Package, v.Builder = desc, pkg, builder
		out, err := Render(v)
		if err != nil {
			return
		}
		evaluate(t, out, v)
	})
}
