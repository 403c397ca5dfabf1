package initspec

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// nameRule says what a service name is, for errors.
const nameRule = "a DNS label: lower-case letters, digits and dashes, starting with a letter and ending with a letter or digit, at most 63 characters"

// ExecName is the file name `go build` gives the binary of importPath:
// its last element, or the one before it when the last is a major
// version suffix (example.com/tool/v2 builds "tool").
func ExecName(importPath string) string {
	dir, elem := path.Split(importPath)
	if dir != "" && isVersionElement(elem) {
		_, elem = path.Split(path.Clean(dir))
	}
	return elem
}

// isVersionElement reports whether s is a major version suffix: v2, v3,
// ..., v10 and so on (not v0 or v1).
func isVersionElement(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] == '0' || (s[1] == '1' && len(s) == 2) {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CheckName accepts a service name given by the user: a DNS-1035 label
// (Kubernetes' own validation), which every target takes as a name.
func CheckName(name string) error {
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return fmt.Errorf("--name %s is not a service name, %s: %s", show(name), nameRule, strings.Join(errs, "; "))
	}
	return nil
}

// ServiceName derives a service name from a binary name: lower case,
// every run of other characters than letters and digits one dash, no
// dash at either end ("My_Tool.v2" is "my-tool-v2"). A binary name that
// leaves nothing, starts with a digit or is longer than a DNS label is
// refused, naming --name: a guessed name would surprise more than an
// error.
func ServiceName(exec string) (string, error) {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(exec) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	name := b.String()
	fail := func(why string) (string, error) {
		return "", fmt.Errorf("cannot make a service name from the program's name %s: %s; pass --name NAME, %s", show(exec), why, nameRule)
	}
	switch {
	case name == "":
		return fail("it has no letter or digit")
	case name[0] < 'a' || name[0] > 'z':
		return fail(fmt.Sprintf("%s starts with a digit", name))
	case len(name) > validation.DNS1035LabelMaxLength:
		return fail(fmt.Sprintf("%s is longer than %d characters", name, validation.DNS1035LabelMaxLength))
	}
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return fail(strings.Join(errs, "; "))
	}
	return name, nil
}
