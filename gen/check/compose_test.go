package check

import (
	"context"
	"slices"
	"testing"
)

// TestRequiredVars: only ${NAME:?} and ${NAME?} get placeholders; defaults
// and $$ escapes are left to compose.
func TestRequiredVars(t *testing.T) {
	got := requiredVars([]byte(`a: ${A:?set A}
b: ${B?}
c: ${C:-8765}
d: $${D:?escaped}
e: ${E}
f: ${A:?again}`))
	if !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("requiredVars = %q", got)
	}
}

// TestComposeListEnvironment: the list form of environment is indexed by
// name, so raw values and lines work as with the map form, and a default
// keeps its value rather than a placeholder.
func TestComposeListEnvironment(t *testing.T) {
	data := []byte(`services:
  s:
    image: x
    environment:
      - PORT=${PORT:-8765}
      - TOKEN=${TOKEN:?set TOKEN}
      - LEVEL=info
`)
	c, err := ParseCompose(context.Background(), FileCompose, t.TempDir(), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, svc, err := c.Service()
	if err != nil {
		t.Fatal(err)
	}
	if got := *svc.Environment["PORT"]; got != "8765" {
		t.Errorf("PORT = %q, want its default", got)
	}
	if got := *svc.Environment["TOKEN"]; got != Placeholder("TOKEN") {
		t.Errorf("TOKEN = %q, want the placeholder", got)
	}
	if raw, ok := c.RawEnv("s", "TOKEN"); !ok || !isInterpolation(raw) || hasLiteralDefault(raw) {
		t.Errorf("raw TOKEN %q ok=%t", raw, ok)
	}
	if raw, _ := c.RawEnv("s", "PORT"); !hasLiteralDefault(raw) {
		t.Errorf("raw PORT %q: default not seen", raw)
	}
	if l := c.Line("services.s.environment.LEVEL"); l != 7 {
		t.Errorf("LEVEL line %d, want 7", l)
	}
}

// TestComposeEnvProvided: a provided environment wins over the placeholder.
func TestComposeEnvProvided(t *testing.T) {
	c, err := ParseCompose(context.Background(), FileCompose, t.TempDir(),
		[]byte("services:\n  s:\n    image: x\n    environment:\n      TOKEN: ${TOKEN:?}\n"), map[string]string{"TOKEN": "from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if got := *c.Project.Services["s"].Environment["TOKEN"]; got != "from-env" {
		t.Errorf("TOKEN = %q", got)
	}
}

// TestInterpolationAsComposeReadsIt: a value is taken from the
// operator's environment when compose-go's template finds a variable in
// it; $$ is a literal $, whatever follows.
func TestInterpolationAsComposeReadsIt(t *testing.T) {
	for raw, want := range map[string]bool{
		"${A:?set A}": true, "$A": true, "x${A}": true, "${A:-v}": true,
		"$$:8080": false, "$$A": false, "$${A}": false, "a$$": false, "plain": false, "": false,
	} {
		if got := isInterpolation(raw); got != want {
			t.Errorf("isInterpolation(%q) = %v, want %v", raw, got, want)
		}
	}
	for raw, want := range map[string]bool{"${A:-v}": true, "${A-v}": true, "${A:?m}": false, "${A}": false, "$${A:-v}": false} {
		if got := hasLiteralDefault(raw); got != want {
			t.Errorf("hasLiteralDefault(%q) = %v, want %v", raw, got, want)
		}
	}
}
