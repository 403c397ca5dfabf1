package podsecurity

import (
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// BenchmarkBridge measures what saying the bridge's level costs a build:
// building the evaluator (New) and evaluating the StatefulSet, against
// marshalling the same StatefulSet to YAML (what the emitter does with it
// anyway), timed in the same iterations. ratio = (new + evaluate) / marshal.
func BenchmarkBridge(b *testing.B) {
	obj := onlyWorkload(b, filepath.Join("..", "..", "deploy", "kubernetes.yaml"))
	var tn, te, tm time.Duration
	for b.Loop() {
		start := time.Now()
		e, err := New()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := e.Object(obj); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := yaml.Marshal(obj); err != nil {
			b.Fatal(err)
		}
		tn, te, tm = tn+t1.Sub(start), te+t2.Sub(t1), tm+time.Since(t2)
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) / 1000 }
	b.ReportMetric(us(tn), "new-µs/op")
	b.ReportMetric(us(te), "evaluate-µs/op")
	b.ReportMetric(us(tm), "marshal-µs/op")
	b.ReportMetric(float64(tn+te)/float64(tm), "ratio")
}
