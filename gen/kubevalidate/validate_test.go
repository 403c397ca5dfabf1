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

// TestDerivedNames: the objects the controllers derive bound the name of a
// StatefulSet to 52 characters with any number of replicas (its pods are
// <name>-<ordinal> and carry controller-revision-hash: <name>-<hash>, both
// at most 63), while a Deployment derives nothing that binds its name more
// than its own label app.kubernetes.io/name does (63): its ReplicaSet is
// <name>-<hash>, a DNS subdomain, and the API server shortens its pods'
// generateName.
func TestDerivedNames(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := split(valid)
	sts := string(docs[len(docs)-1].data)
	if !strings.Contains(sts, "kind: StatefulSet") {
		t.Fatal("the last document of valid.yaml is no StatefulSet")
	}
	name := func(n int) string { return "s" + strings.Repeat("x", n-1) }
	for _, c := range []struct {
		name     string
		replicas string
		ok       bool
	}{
		{name(52), "1", true},
		{name(52), "2147483647", true},
		{name(53), "1", false},
		{name(53), "2147483647", false},
	} {
		doc := strings.ReplaceAll(sts, "lighthouse-bridge", c.name)
		doc = strings.Replace(doc, "replicas: 1", "replicas: "+c.replicas, 1)
		ps := Validate("sts.yaml", []byte(doc))
		if got := len(ps) == 0; got != c.ok {
			t.Errorf("StatefulSet of a %d-character name, %s replicas: problems %v, want ok=%v", len(c.name), c.replicas, ps, c.ok)
		}
		for _, p := range ps {
			if !strings.HasPrefix(p.Field, "derived ") {
				t.Errorf("a problem of the StatefulSet itself, not of what it derives: %v", p)
			}
		}
	}
	dep := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
  labels:
    app.kubernetes.io/name: NAME
spec:
  replicas: 2147483647
  selector:
    matchLabels:
      app.kubernetes.io/name: NAME
  template:
    metadata:
      labels:
        app.kubernetes.io/name: NAME
    spec:
      containers:
        - name: NAME
          image: example:1
`
	if ps := Validate("dep.yaml", []byte(strings.ReplaceAll(dep, "NAME", name(63)))); len(ps) != 0 {
		t.Errorf("a Deployment of a 63-character name: %v", ps)
	}
}
