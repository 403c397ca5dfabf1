package check_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"

	cases "github.com/lighthouse-project/lighthouse/gen/casetest"
	"github.com/lighthouse-project/lighthouse/gen/check"
)

// lineOf is the 1-based line of the first line of data starting with
// prefix (after indentation), so the test follows the emitters' layout.
func lineOf(t *testing.T, data []byte, prefix string) int {
	t.Helper()
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return i + 1
		}
	}
	t.Fatalf("no line starts with %q", prefix)
	return 0
}

// TestParseGood pins what each parser extracts from the bridge's
// artifacts, with the lines the findings rely on.
func TestParseGood(t *testing.T) {
	c, err := cases.Load("testdata/good.txtar")
	if err != nil {
		t.Fatal(err)
	}
	l, files, err := c.Materialize(t.TempDir(), cases.HeaderStamped)
	if err != nil {
		t.Fatal(err)
	}
	p, fs := check.Parse(context.Background(), files, check.Options{Dir: l.Out})
	if len(fs) != 0 {
		t.Fatalf("good fixture has parse findings: %v", fs)
	}

	df := files[check.FileDockerfile]
	d := p.Dockerfile
	if diff := cmp.Diff([]string{"/usr/local/bin/lighthouse-bridge-start"}, d.Entrypoint); diff != "" || d.EntrypointLine != lineOf(t, df, "ENTRYPOINT") || !d.EntrypointExec {
		t.Errorf("entrypoint %q line %d exec %t", d.Entrypoint, d.EntrypointLine, d.EntrypointExec)
	}
	if d.User != "0:0" || d.UserLine != lineOf(t, df, "USER") {
		t.Errorf("user %q line %d", d.User, d.UserLine)
	}
	if !slices.Equal(d.Expose, []check.PortLine{{Port: "8765/tcp", Line: lineOf(t, df, "EXPOSE")}}) {
		t.Errorf("expose %v", d.Expose)
	}
	want := &check.HealthCheck{Test: []string{"CMD", "/usr/local/bin/lighthouse-bridge", "healthcheck"},
		Interval: 30 * time.Second, Timeout: 10 * time.Second, StartPeriod: 30 * time.Second, Retries: 3, Line: lineOf(t, df, "HEALTHCHECK")}
	if diff := cmp.Diff(want, d.Health); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
	if c, ok := d.CopiedTo("/usr/local/bin/lighthouse-bridge-start"); !ok || c.Line != lineOf(t, df, "COPY deploy/start.sh") || !slices.Equal(c.Sources, []string{"deploy/start.sh"}) {
		t.Errorf("start script copy %+v %t", c, ok)
	}

	sf := files[check.FileScript]
	s := p.Script
	if !slices.Equal(s.Exec, []string{"/usr/local/bin/lighthouse-bridge", "serve"}) || s.ExecLine != lineOf(t, sf, "exec ") {
		t.Errorf("exec %q line %d", s.Exec, s.ExecLine)
	}
	wantReq := map[string]int{
		"LIGHTHOUSE_EVENT_STORE_PATH": lineOf(t, sf, `: "${LIGHTHOUSE_EVENT_STORE_PATH`),
		"LIGHTHOUSE_SNAPSHOT_PATH":    lineOf(t, sf, `: "${LIGHTHOUSE_SNAPSHOT_PATH`),
		"LIGHTHOUSE_AUTH_SECRET":      lineOf(t, sf, `: "${LIGHTHOUSE_AUTH_SECRET`),
	}
	if diff := cmp.Diff(wantReq, s.Required); diff != "" {
		t.Errorf("required (-want +got):\n%s", diff)
	}
	if s.FuseCheckLine != lineOf(t, sf, "[ -c /dev/fuse ]") {
		t.Errorf("fuse check line %d", s.FuseCheckLine)
	}
	if _, ok := s.Refs["LIGHTHOUSE_LOG_LEVEL"]; !ok {
		t.Errorf("refs miss LIGHTHOUSE_LOG_LEVEL: %v", s.Refs)
	}
	if s.Shebang != "#!/bin/sh" {
		t.Errorf("shebang %q", s.Shebang)
	}

	cf := files[check.FileCompose]
	co := p.Compose
	name, svc, err := co.Service()
	if err != nil || name != "lighthouse-bridge" {
		t.Fatalf("service %q: %v", name, err)
	}
	if got := *svc.Environment["LIGHTHOUSE_AUTH_SECRET"]; got != check.Placeholder("LIGHTHOUSE_AUTH_SECRET") {
		t.Errorf("secret interpolated to %q, want the placeholder", got)
	}
	if raw, _ := co.RawEnv(name, "LIGHTHOUSE_AUTH_SECRET"); !strings.HasPrefix(raw, "${LIGHTHOUSE_AUTH_SECRET:?") {
		t.Errorf("raw secret %q is not an interpolation", raw)
	}
	if l := co.Line("services.lighthouse-bridge.cap_add"); l != lineOf(t, cf, "cap_add:") {
		t.Errorf("cap_add line %d", l)
	}

	kf := files[check.FileKube]
	k := p.Kube
	var kinds []string
	for _, d := range k.Docs {
		kinds = append(kinds, d.Kind)
	}
	if !slices.Equal(kinds, []string{"ConfigMap", "Service", "NetworkPolicy", "StatefulSet"}) || k.Docs[0].Start != 1 {
		t.Errorf("docs %v, first at %d", kinds, k.Docs[0].Start)
	}
	sts := k.Docs[3]
	if _, ok := sts.Object.(*appsv1.StatefulSet); !ok {
		t.Fatalf("doc 4 is %T", sts.Object)
	}
	if l := sts.Line("spec.template.spec.containers.0.securityContext.capabilities.add"); l != lineOf(t, kf, "add:") {
		t.Errorf("capabilities.add line %d", l)
	}
}
