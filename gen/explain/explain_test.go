package explain

import (
	"slices"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/spec"
)

func loadNotes(t *testing.T) *spec.Service {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: "../../golden/notes/spec"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cell(t *testing.T, s *spec.Service, field, target string) Cell {
	t.Helper()
	for _, r := range Rows(s) {
		if r.Field == field {
			for i, tg := range Targets {
				if tg.Key == target {
					return r.Cells[i]
				}
			}
		}
	}
	t.Fatalf("no row %s", field)
	return Cell{}
}

// TestOmitDecides: the same field is an error without the spec's omit
// and omitted, with the reason, with it; a "*" pattern matches one
// element; a field a target expresses is never affected by omit.
func TestOmitDecides(t *testing.T) {
	s := loadNotes(t)
	if err := Unhandled(s); err != nil {
		t.Fatalf("notes spec has unhandled fields: %v", err)
	}
	c := cell(t, s, "volumes.data.size", "compose")
	if c.Fidelity != Omitted || !strings.Contains(c.How, "host's disk") {
		t.Errorf("volumes.data.size in compose = %+v, want omitted by the volumes.*.size pattern", c)
	}
	if c := cell(t, s, "volumes.data.size", "kubernetes"); c.Fidelity != Exact {
		t.Errorf("volumes.data.size in kubernetes = %+v", c)
	}
	delete(s.Omit, "workload.restart")
	if c := cell(t, s, "workload.restart", "kubernetes"); c.Fidelity != NotExpressible {
		t.Errorf("workload.restart without omit = %+v", c)
	}
	err := Unhandled(s)
	if err == nil || !strings.Contains(err.Error(), `workload.restart cannot be expressed in kubernetes.yaml`) {
		t.Errorf("Unhandled = %v", err)
	}
	s.Workload.Restart = "always"
	if c := cell(t, s, "workload.restart", "kubernetes"); c.Fidelity != Exact {
		t.Errorf("restart always in kubernetes = %+v", c)
	}
	s.Workload.Replicas = 1
	delete(s.Omit, "workload.replicas")
	if err := Unhandled(s); err != nil {
		t.Errorf("one replica, restart always: %v", err)
	}
}

// TestSelect picks a field and the fields below it, not its namesakes.
func TestSelect(t *testing.T) {
	rows := Rows(loadNotes(t))
	got := Select(rows, "volumes.data")
	if len(got) != 2 || got[0].Field != "volumes.data" || got[1].Field != "volumes.data.size" {
		t.Errorf("Select(volumes.data) = %v", got)
	}
	if len(Select(rows, "volumes.dat")) != 0 {
		t.Error("a prefix that is not a path element selected rows")
	}
	got = Select(rows, "volumes.*.size")
	if len(got) != 1 || got[0].Field != "volumes.data.size" {
		var fields []string
		for _, r := range got {
			fields = append(fields, r.Field)
		}
		t.Errorf("Select(volumes.*.size) = %v", fields)
	}
	if got := Select(rows, "ports.http.number"); len(got) != 1 || got[0].Field != "ports.http" {
		t.Errorf("Select(ports.http.number) = %v, want the ports.http row", got)
	}
}

// TestEverySchemaFieldExplained holds explain to the schema: testdata/full
// writes every field #Service has (SchemaFields, plus the ones a rule adds
// under a condition), and each of them must be explained by a row, with
// all four artifacts, and be selectable by its pattern ("volumes.*.size").
// A new schema field fails here until the spec and Rows both know it.
func TestEverySchemaFieldExplained(t *testing.T) {
	s, err := spec.Load(spec.Options{Dir: "testdata/full"})
	if err != nil {
		t.Fatal(spec.Details(err, ""))
	}
	rows := Rows(s)
	if m := Missing(s, rows); len(m) > 0 {
		t.Errorf("fields no row explains: %v", m)
	}
	schema, err := spec.SchemaFields()
	if err != nil {
		t.Fatal(err)
	}
	if len(schema) < 40 {
		t.Fatalf("SchemaFields found %d fields: the schema walk is broken", len(schema))
	}
	written := map[string]bool{}
	for _, f := range s.Fields() {
		written[f.Pattern] = true
	}
	for _, want := range append(schema, conditionalFields...) {
		if !written[want] {
			t.Errorf("testdata/full does not write %s: add it, so its explanation is tested", want)
			continue
		}
		sel := Select(rows, want)
		if len(sel) == 0 {
			t.Errorf("explain %s selects no row", want)
		}
		for _, r := range sel {
			for i, c := range r.Cells {
				if c.Fidelity == "" || c.How == "" {
					t.Errorf("%s says nothing for %s", r.Field, Targets[i].File)
				}
			}
		}
	}
}

// TestMissing names a field no row explains.
func TestMissing(t *testing.T) {
	s := loadNotes(t)
	rows := Rows(s)
	if m := Missing(s, rows); len(m) > 0 {
		t.Fatalf("notes: fields no row explains: %v", m)
	}
	var without []Row
	for _, r := range rows {
		if r.Field != "image.mode" {
			without = append(without, r)
		}
	}
	if m := Missing(s, without); !slices.Equal(m, []string{"image.mode"}) {
		t.Errorf("Missing without the image.mode row = %v", m)
	}
}
