package explain

import (
	"slices"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// TestStaleOmits: an omit entry that leaves out nothing is an error
// naming why (no such field, the spec does not set it, the target
// expresses it or has no need of it); the notes spec's own omits, each
// for a field its target cannot express, are not.
func TestStaleOmits(t *testing.T) {
	s := loadNotes(t)
	if err := Stale(s); err != nil {
		t.Fatalf("the notes spec's omits are stale: %v", err)
	}
	for pattern, c := range map[string]struct{ target, want string }{
		"volumes.*.sise":     {"compose", "#Service has no field volumes.*.sise"},
		"workload.replicaz":  {"compose", "#Service has no field workload.replicaz"},
		"fuse.mountPoint":    {"compose", "the spec sets no fuse.mountPoint"},
		"volumes.cache.size": {"compose", "the spec sets no volumes.cache.size"},
		"ports.http":         {"compose", "compose.yaml expresses ports.http (exact:"},
		"volumes.*.size":     {"kubernetes", "kubernetes.yaml expresses volumes.data.size (exact:"},
		"description":        {"script", "start.sh has no need of description (n/a:"},
	} {
		s := loadNotes(t)
		s.Omit = map[string]map[string]string{pattern: {c.target: "a reason of some length"}}
		err := Stale(s)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `omit "`+pattern+`" for `+c.target+" is stale") {
			t.Errorf("omit %s: %s: got %v, want %q", pattern, c.target, err, c.want)
		}
	}
	// A pattern that leaves out one field the target cannot express
	// (volumes.data.size) is not stale for the fields it matches that
	// the target does express.
	s.Volumes[1].Size = "64Mi" // cache, a tmpfs: compose sizes it
	if err := Stale(s); err != nil {
		t.Errorf("volumes.*.size still leaves out volumes.data.size in compose: %v", err)
	}
}

// TestConditionalFields holds conditionalFields to the specs: every field
// the bridge's spec, the notes spec and testdata/full (which sets every
// field) set is in spec.SchemaFields or in conditionalFields, and no field
// is in both.
func TestConditionalFields(t *testing.T) {
	schema, err := spec.SchemaFields()
	if err != nil {
		t.Fatal(err)
	}
	known := append(slices.Clone(schema), conditionalFields...)
	var specs []*spec.Service
	for _, dir := range []string{"", "testdata/full", "../../golden/notes/spec"} {
		s, err := spec.Load(spec.Options{Dir: dir})
		if err != nil {
			t.Fatal(spec.Details(err, ""))
		}
		specs = append(specs, s)
	}
	for _, s := range specs {
		for _, f := range s.Fields() {
			if !slices.Contains(known, f.Pattern) {
				t.Errorf("%s: field %s is neither in spec.SchemaFields nor in conditionalFields", s.Name, f.Pattern)
			}
		}
	}
	for _, f := range conditionalFields {
		if slices.Contains(schema, f) {
			t.Errorf("conditionalFields lists %s, which spec.SchemaFields has", f)
		}
	}
}
