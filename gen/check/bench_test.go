package check_test

import (
	"bytes"
	"context"
	"testing"

	"go.yaml.in/yaml/v3"

	cases "github.com/lighthouse-project/lighthouse/gen/casetest"
	"github.com/lighthouse-project/lighthouse/gen/check"
)

// goodFiles are the bridge's artifacts as the spec gives them.
func goodFiles(b *testing.B) (string, map[string][]byte) {
	b.Helper()
	c, err := cases.Load("testdata/good.txtar")
	if err != nil {
		b.Fatal(err)
	}
	l, files, err := c.Materialize(b.TempDir(), cases.HeaderStamped)
	if err != nil {
		b.Fatal(err)
	}
	return l.Out, files
}

// BenchmarkArtifacts measures a full parse-back and invariant run over the
// bridge's artifacts (shellcheck excluded: it is an external process).
func BenchmarkArtifacts(b *testing.B) {
	dir, files := goodFiles(b)
	ctx := context.Background()
	for b.Loop() {
		fs, err := check.Check(ctx, files, check.Options{Dir: dir})
		if err != nil || len(fs) != 0 {
			b.Fatal(err, fs)
		}
	}
}

// BenchmarkBaselineYAML is the baseline: decoding the two YAML artifacts into
// yaml.v3 nodes, the least any YAML-reading check must do.
func BenchmarkBaselineYAML(b *testing.B) {
	_, files := goodFiles(b)
	for b.Loop() {
		for _, f := range []string{check.FileCompose, check.FileKube} {
			dec := yaml.NewDecoder(bytes.NewReader(files[f]))
			for {
				var n yaml.Node
				if err := dec.Decode(&n); err != nil {
					break
				}
			}
		}
	}
}
