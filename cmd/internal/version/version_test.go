package version

import (
	"strings"
	"testing"
)

func TestStringStartsWithVersion(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v9.9.9"
	if got := String(); !strings.HasPrefix(got, "v9.9.9 (go") {
		t.Fatalf("String() = %q, want prefix %q", got, "v9.9.9 (go")
	}
}
