package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badSpec is a spec with one CUE error (a port out of range), one
// missing field (description) and one Go-side error (limit < request).
const badSpec = `package x

name: "web"
entry: {
	package: "./cmd/web"
	binary:  "web"
}
image: {
	ref:     "web:1"
	builder: "golang:1.26.8"
	runtime: "alpine:3.22"
}
ports: http: number: 70000
health: {
	port:      "http"
	liveness:  "/healthz"
	readiness: "/readyz"
}
resources: {
	cpu: {request: "500m", limit: "100m"}
	memory: {request: "64Mi", limit: "128Mi"}
}
workload: kind: "StatefulSet"
`

func loadBad(t *testing.T) (error, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte(badSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(Options{Dir: dir})
	if err == nil {
		t.Fatalf("a bad spec loaded: %+v", s)
	}
	return err, dir
}

// TestGoChecksRunWhenCUEFails checks that the checks CUE cannot express
// report in the same run as CUE's errors, so an author fixes everything
// at once instead of discovering one error per run.
func TestGoChecksRunWhenCUEFails(t *testing.T) {
	err, dir := loadBad(t)
	got := Details(err, dir)
	for _, want := range []string{
		"ports.http.number: 70000 does not satisfy <=65535",
		"description is required: one line for humans",
		"resources.cpu.limit: limit 100m is below request 500m",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// TestDetailsShowsSpecPositionsOnly checks that the schema's positions
// are left out for the author (they change with every schema edit) and
// shown by DetailsVerbose, and that errors come in the spec's order.
func TestDetailsShowsSpecPositionsOnly(t *testing.T) {
	err, dir := loadBad(t)
	got := Details(err, dir)
	if strings.Contains(got, "embedded:") {
		t.Errorf("Details shows schema positions:\n%s", got)
	}
	want := []string{"spec.cue:1:1", "spec.cue:13:22", "spec.cue:20:25"}
	last := -1
	for _, w := range want {
		i := strings.Index(got, w)
		if i < 0 || i < last {
			t.Errorf("position %s missing or out of spec order in:\n%s", w, got)
		}
		last = i
	}
	if v := DetailsVerbose(err, dir); !strings.Contains(v, "embedded:cue/schema/service.cue:") {
		t.Errorf("DetailsVerbose lacks the schema's positions:\n%s", v)
	}
}

// TestClosest suggests the allowed field a typo meant, and nothing for a
// word that is no near miss.
func TestClosest(t *testing.T) {
	allowed := []string{"interval", "liveness", "port", "readiness", "retries", "startPeriod", "timeout"}
	for label, want := range map[string]string{
		"retrys":      "retries",
		"intervall":   "interval",
		"Timeout":     "timeout",
		"startperiod": "startPeriod",
		"prot":        "port",
		"replicas":    "",
		"x":           "",
		"healthcheck": "",
	} {
		if got := closest(label, allowed); got != want {
			t.Errorf("closest(%q) = %q, want %q", label, got, want)
		}
	}
	if got := closest("nmae", []string{"description", "entry", "name"}); got != "name" {
		t.Errorf("closest(nmae) = %q, want name (a swap is one edit)", got)
	}
}
