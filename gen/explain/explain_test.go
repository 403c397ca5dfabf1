package explain

import (
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
}
