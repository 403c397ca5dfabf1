package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update rewrites the .want goldens instead of comparing against them.
var update = os.Getenv("LIGHTHOUSE_UPDATE") == "1"

// TestGolden validates each testdata/*.yaml and compares the problems with
// the file's .want golden. valid.yaml must have none; each other file breaks
// one thing the API server rejects on create.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, p := range Validate(f, data) {
				b.WriteString(p.String() + "\n")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".want"
			if update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden (regenerate with LIGHTHOUSE_UPDATE=1): %v", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("problems differ (-want +got):\n%s", diff)
			}
			if filepath.Base(f) == "valid.yaml" && b.Len() != 0 {
				t.Errorf("valid.yaml has problems")
			} else if filepath.Base(f) != "valid.yaml" && b.Len() == 0 {
				t.Errorf("a broken manifest passed")
			}
		})
	}
}

// TestCheckFixture: the base of gen/check's and golden/audit's cases (the
// bridge's generated artifacts, deploy/), header included, is accepted by
// the API server's create-time validation.
func TestCheckFixture(t *testing.T) {
	f := "../../deploy/kubernetes.yaml"
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if ps := Validate(f, data); len(ps) != 0 {
		t.Errorf("good fixture rejected: %v", ps)
	}
}

// TestSplit: documents keep their starting lines; comment-only chunks vanish.
func TestSplit(t *testing.T) {
	docs := split([]byte("# header\n# more\na: 1\n---\n---\n# only a comment\n---\nb: 2\nc: 3\n"))
	var starts []int
	for _, d := range docs {
		starts = append(starts, d.start)
	}
	if diff := cmp.Diff([]int{1, 8}, starts); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
}
