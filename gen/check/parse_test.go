package check

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestParseGood pins what each parser extracts from the good fixture, with the
// lines the invariants' findings rely on.
func TestParseGood(t *testing.T) {
	files := readArtifacts(t, "testdata/good")
	p, fs := Parse(context.Background(), files, Options{Dir: "testdata/good"})
	if len(fs) != 0 {
		t.Fatalf("good fixture has parse findings: %v", fs)
	}

	d := p.Dockerfile
	if diff := cmp.Diff([]string{"/usr/local/bin/lighthouse-bridge-start"}, d.Entrypoint); diff != "" || d.EntrypointLine != 17 || !d.EntrypointExec {
		t.Errorf("entrypoint %q line %d exec %t", d.Entrypoint, d.EntrypointLine, d.EntrypointExec)
	}
	if d.User != "0:0" || d.UserLine != 14 {
		t.Errorf("user %q line %d", d.User, d.UserLine)
	}
	if !slices.Equal(d.Expose, []PortLine{{"8765/tcp", 15}}) {
		t.Errorf("expose %v", d.Expose)
	}
	want := &HealthCheck{Test: []string{"CMD", "/usr/local/bin/lighthouse-bridge", "healthcheck"},
		Interval: 30 * time.Second, Timeout: 10 * time.Second, StartPeriod: 30 * time.Second, Retries: 3, Line: 16}
	if diff := cmp.Diff(want, d.Health); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
	if c, ok := d.CopiedTo("/usr/local/bin/lighthouse-bridge-start"); !ok || c.Line != 13 || !slices.Equal(c.Sources, []string{"start.sh"}) {
		t.Errorf("start script copy %+v %t", c, ok)
	}

	s := p.Script
	if !slices.Equal(s.Exec, []string{"/usr/local/bin/lighthouse-bridge", "serve"}) || s.ExecLine != 28 {
		t.Errorf("exec %q line %d", s.Exec, s.ExecLine)
	}
	if diff := cmp.Diff(map[string]int{"LIGHTHOUSE_EVENT_STORE_PATH": 6, "LIGHTHOUSE_SNAPSHOT_PATH": 7, "LIGHTHOUSE_AUTH_SECRET": 8}, s.Required); diff != "" {
		t.Errorf("required (-want +got):\n%s", diff)
	}
	if s.FuseCheckLine != 20 {
		t.Errorf("fuse check line %d", s.FuseCheckLine)
	}
	if _, ok := s.Refs["LIGHTHOUSE_LOG_LEVEL"]; !ok {
		t.Errorf("refs miss LIGHTHOUSE_LOG_LEVEL: %v", s.Refs)
	}
	if diff := cmp.Diff([]WordLine{{"$LIGHTHOUSE_MOUNT_POINT", 24}, {"$LIGHTHOUSE_EVENT_STORE_PATH", 26}, {"$LIGHTHOUSE_SNAPSHOT_PATH", 26}}, s.Mkdirs); diff != "" {
		t.Errorf("mkdirs (-want +got):\n%s", diff)
	}

	c := p.Compose
	name, svc, err := c.Service()
	if err != nil || name != "lighthouse-bridge" {
		t.Fatalf("service %q: %v", name, err)
	}
	if got := *svc.Environment["LIGHTHOUSE_AUTH_SECRET"]; got != Placeholder("LIGHTHOUSE_AUTH_SECRET") {
		t.Errorf("secret interpolated to %q, want the placeholder", got)
	}
	if raw, _ := c.RawEnv(name, "LIGHTHOUSE_AUTH_SECRET"); !isInterpolation(raw) {
		t.Errorf("raw secret %q is not an interpolation", raw)
	}
	if l := c.Line("services.lighthouse-bridge.cap_add"); l != 14 {
		t.Errorf("cap_add line %d", l)
	}

	k := p.Kube
	var starts []int
	var kinds []string
	for _, d := range k.Docs {
		starts = append(starts, d.Start)
		kinds = append(kinds, d.Kind)
	}
	if !slices.Equal(kinds, []string{"ConfigMap", "Service", "NetworkPolicy", "StatefulSet"}) || !slices.Equal(starts, []int{1, 17, 32, 49}) {
		t.Errorf("docs %v at %v", kinds, starts)
	}
	sts := k.Docs[3]
	if _, ok := sts.Object.(*appsv1.StatefulSet); !ok {
		t.Fatalf("doc 4 is %T", sts.Object)
	}
	if l := sts.Line("spec.template.spec.containers.0.securityContext.capabilities.add"); l != 94 {
		t.Errorf("capabilities.add line %d", l)
	}
}

// TestParseKubernetesKinds holds apiVersion and kind, read from the
// positions' YAML node rather than a separate decode, to what a strict
// decode needs: quoted values select the type too, an unknown kind and a
// document that is not a mapping are errors at the document's line.
func TestParseKubernetesKinds(t *testing.T) {
	k, err := ParseKubernetes("k.yaml", []byte("# head\n---\n\"apiVersion\": 'v1'\nkind: \"ConfigMap\"\nmetadata: {name: c}\ndata: {A: \"1\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Docs) != 1 || k.Docs[0].Start != 3 || k.Docs[0].Name != "c" {
		t.Fatalf("docs %+v", k.Docs)
	}
	if cm, ok := k.Docs[0].Object.(*corev1.ConfigMap); !ok || cm.Data["A"] != "1" {
		t.Errorf("object %#v", k.Docs[0].Object)
	}
	for _, tc := range []struct{ doc, want string }{
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", `k.yaml:3: unsupported apiVersion/kind "v1/Pod"`},
		{"kind: ConfigMap\n", `k.yaml:3: unsupported apiVersion/kind "/ConfigMap"`},
		{"- apiVersion: v1\n  kind: ConfigMap\n", "k.yaml:3: a Kubernetes document is a mapping with apiVersion and kind"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nbogus: 1\n", `k.yaml:6: ConfigMap`},
	} {
		_, err := ParseKubernetes("k.yaml", []byte("# head\n---\n"+tc.doc))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want prefix %q", tc.doc, err, tc.want)
		}
	}
}
