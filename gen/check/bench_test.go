package check

import (
	"bytes"
	"context"
	"testing"

	"go.yaml.in/yaml/v3"
)

// BenchmarkArtifacts measures a full parse-back and invariant run over the
// good fixture (shellcheck excluded: it is an external process).
func BenchmarkArtifacts(b *testing.B) {
	files := readArtifacts(b, "testdata/good")
	ctx := context.Background()
	for b.Loop() {
		fs, err := Check(ctx, files, Options{Dir: "testdata/good"})
		if err != nil || len(fs) != 0 {
			b.Fatal(err, fs)
		}
	}
}

// BenchmarkBaselineYAML is the baseline: decoding the two YAML artifacts into
// yaml.v3 nodes, the least any YAML-reading check must do.
func BenchmarkBaselineYAML(b *testing.B) {
	files := readArtifacts(b, "testdata/good")
	for b.Loop() {
		for _, f := range []string{FileCompose, FileKube} {
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
