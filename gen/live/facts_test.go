package live

import (
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// TestCompareWithTheSpecsFacts: what a step reads from the container is
// held to the same facts of the spec a build holds the artifacts to; a
// container that matches passes, and each difference is an error naming
// the container's view, both values and the spec position.
func TestCompareWithTheSpecsFacts(t *testing.T) {
	s, err := spec.Load(spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &run{s: s}
	ok := check.NewFacts("the container")
	ok.Add(check.FieldEntry, check.Value{V: check.Argv([]string{"/usr/local/bin/lighthouse-bridge", "serve"}), View: "PID 1"})
	ok.Express(check.FieldCapabilities, "effective capabilities", "", 0)
	ok.Add(check.FieldCapabilities, check.Value{Key: "SYS_ADMIN", View: "effective capabilities"})
	if err := r.compare(ok); err != nil {
		t.Errorf("a matching container: %v", err)
	}
	bad := check.NewFacts("the container")
	bad.Add(check.FieldEntry, check.Value{V: check.Argv([]string{"httpd", "-f"}), View: "PID 1"})
	bad.Express(check.FieldCapabilities, "effective capabilities", "", 0)
	bad.Express(check.FieldCapabilities, "bounding capabilities", "", 0)
	bad.Add(check.FieldCapabilities, check.Value{Key: "SYS_ADMIN", View: "effective capabilities"})
	bad.Add(check.FieldCapabilities, check.Value{Key: "NET_ADMIN", View: "effective capabilities"})
	err = r.compare(bad)
	if err == nil {
		t.Fatal("a container running another program with another capability passed")
	}
	for _, want := range []string{
		`PID 1 is ["httpd", "-f"], but the spec's entry is ["/usr/local/bin/lighthouse-bridge", "serve"] (spec: embedded:cue/bridge/bridge.cue:`,
		"effective capabilities NET_ADMIN is not in the spec's capabilities",
		"bounding capabilities lacks SYS_ADMIN, which the spec's capabilities has (spec: embedded:cue/bridge/bridge.cue:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// The ports step holds TCP ports only: a UDP port of the spec is not
	// missing from /proc/net/tcp.
	ports := check.NewFacts("the container")
	ports.Express(check.FieldPorts, "TCP ports listening in the container", "", 0)
	ports.Add(check.FieldPorts, check.Value{Key: "8765/tcp", View: "TCP ports listening in the container"})
	if err := r.compareOnly(ports, func(v check.Value) bool { return strings.HasSuffix(v.Key, "/tcp") }); err != nil {
		t.Errorf("ports: %v", err)
	}
}
