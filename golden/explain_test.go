package golden

import (
	"bytes"
	"path/filepath"
	"testing"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/explain"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// TestExplain compares `lighthouse-gen explain` of the example specs with
// explain/<case>.txt, and holds that every field shows all four targets
// and that no target is left "not expressible" in a spec that builds.
func TestExplain(t *testing.T) {
	for _, c := range []struct {
		name string
		o    spec.Options
	}{
		{"bridge", spec.Options{}},
		{"bridge-prebuilt", spec.Options{Tags: []string{"dockerfile_mode=prebuilt"}}},
		{"notes", spec.Options{Dir: filepath.Join("notes", "spec")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := spec.Load(c.o)
			if err != nil {
				t.Fatal(cueerrors.Details(err, nil))
			}
			rows := explain.Rows(s)
			if m := explain.Missing(s, rows); len(m) > 0 {
				t.Errorf("fields explain leaves out: %v", m)
			}
			omitted := 0
			for _, r := range rows {
				for i, cell := range r.Cells {
					if cell.Fidelity == "" || cell.How == "" {
						t.Errorf("%s in %s says nothing", r.Field, explain.Targets[i].File)
					}
					if cell.Fidelity == explain.NotExpressible {
						t.Errorf("%s in %s is not expressible, yet the spec builds", r.Field, explain.Targets[i].File)
					}
					if cell.Fidelity == explain.Omitted {
						omitted++
					}
				}
			}
			if omitted == 0 {
				t.Errorf("no omitted cell: the example specs each omit something on purpose")
			}
			var b bytes.Buffer
			if err := explain.Write(&b, rows); err != nil {
				t.Fatal(err)
			}
			compare(t, filepath.Join("explain", c.name+".txt"), b.Bytes())
		})
	}
}
