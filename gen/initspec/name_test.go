package initspec

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestExecName(t *testing.T) {
	for in, want := range map[string]string{
		"example.com/m/cmd/notes": "notes",
		"example.com/tool/v2":     "tool",
		"example.com/tool/v10":    "tool",
		"example.com/tool/v1":     "v1",
		"example.com/tool/v0":     "v0",
		"example.com/tool/v2x":    "v2x",
		"v2":                      "v2",
		"gopkg.in/yaml.v3":        "yaml.v3",
		"mymod":                   "mymod",
	} {
		if got := ExecName(in); got != want {
			t.Errorf("ExecName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServiceName(t *testing.T) {
	for in, want := range map[string]string{
		"notes":                  "notes",
		"My_Tool.v2":             "my-tool-v2",
		"yaml.v3":                "yaml-v3",
		"--x--":                  "x",
		"a..~+b":                 "a-b",
		"API":                    "api",
		"ab9":                    "ab9",
		"_private":               "private",
		"über":                   "ber",
		"x\n\"}\ninjected: true": "x-injected-true",
	} {
		got, err := ServiceName(in)
		if err != nil || got != want {
			t.Errorf("ServiceName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                      "it has no letter or digit",
		"_.~":                   "it has no letter or digit",
		"2fa":                   "2fa starts with a digit",
		strings.Repeat("a", 64): "longer than 63 characters",
	} {
		got, err := ServiceName(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "pass --name NAME") {
			t.Errorf("ServiceName(%q) = %q, %v; want an error naming %q and --name", in, got, err, want)
		}
	}
	if got, err := ServiceName(strings.Repeat("a", 63)); err != nil || len(got) != 63 {
		t.Errorf("63 characters: %q, %v", got, err)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "notes-api", strings.Repeat("a", 63)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A", "1a", "a-", "a_b", "a.b", strings.Repeat("a", 64), "a\nb"} {
		if err := CheckName(bad); err == nil || !strings.Contains(err.Error(), "is not a service name") {
			t.Errorf("CheckName(%q): %v", bad, err)
		}
	}
}

// FuzzServiceName: whatever a folder is called, the name is a DNS label
// or an error.
func FuzzServiceName(f *testing.F) {
	for _, s := range []string{"notes", "My_Tool.v2", "2fa", "", "a--b", "\x00", "ü-ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := ServiceName(s)
		if err != nil {
			return
		}
		if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
			t.Fatalf("ServiceName(%q) = %q: %v", s, name, errs)
		}
	})
}
