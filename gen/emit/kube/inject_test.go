package kube

import (
	"path/filepath"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// TestRefusesInvisibleText: YAML would carry a line break, bidirectional
// or zero-width character (escaped or raw), but a manifest must read as
// what it is; the emitter refuses them, naming the spec field.
func TestRefusesInvisibleText(t *testing.T) {
	for _, c := range []struct {
		name, field string
		set         func(*spec.Service)
	}{
		{"bidi control in a ConfigMap value", "env.NOTES_LISTEN.value", func(s *spec.Service) { s.Env[0].Value = ":80\u202e80" }},
		{"newline in a probe path", "health.liveness", func(s *spec.Service) { s.Health.Liveness = "/livez\nx" }},
		{"zero-width space in the image", "image.ref", func(s *spec.Service) { s.Image.Ref = "notes\u200b:1" }},
		{"quantity the parser does not read", "resources.cpu.limit", func(s *spec.Service) { s.Resources.CPULimit = "lots" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := spec.Load(spec.Options{Dir: filepath.Join("..", "..", "..", "golden", "notes", "spec")})
			if err != nil {
				t.Fatal(err)
			}
			c.set(s)
			out, err := Emit(s, emit.Options{Version: "test"})
			es, ok := encode.AsErrors(err)
			if !ok {
				t.Fatalf("emitted without refusing (err %v):\n%s", err, out)
			}
			found := false
			for _, e := range es {
				found = found || e.Field == c.field
			}
			if !found {
				t.Errorf("refusals %v do not name %s", es, c.field)
			}
		})
	}
}
