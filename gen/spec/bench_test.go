package spec

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLoadFailing measures the error path against the success path
// in the same loop: per iteration one Load of the embedded bridge spec
// (baseline) and one of golden/fail/every-mistake-one-run, which CUE
// rejects and whose every error is then explained (Go-side checks on
// what decodes, missing fields, messages, positions). ratio = failing /
// bridge; goal ≤ 2: reporting every error must not cost more than a
// second load.
func BenchmarkLoadFailing(b *testing.B) {
	bad := filepath.Join("..", "..", "golden", "fail", "every-mistake-one-run")
	var tg, tb time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := Load(Options{}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		_, err := Load(Options{Dir: bad})
		if err == nil {
			b.Fatal("the failing spec loaded")
		}
		_ = Details(err, "")
		tg += mid.Sub(start)
		tb += time.Since(mid)
	}
	b.ReportMetric(float64(tg.Microseconds())/float64(b.N)/1000, "bridge-ms/op")
	b.ReportMetric(float64(tb.Microseconds())/float64(b.N)/1000, "failing-ms/op")
	b.ReportMetric(float64(tb)/float64(tg), "ratio")
}
