package kube

import (
	"bytes"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

type manifests struct {
	cm  corev1.ConfigMap
	svc corev1.Service
	np  networkingv1.NetworkPolicy
	sts appsv1.StatefulSet
}

// decode reads the emitted documents back, strictly, into typed objects.
func decode(t *testing.T, dir string) (*spec.Service, manifests) {
	t.Helper()
	s, err := spec.Load(spec.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Emit(s, emit.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(b, []byte("\n---\n"))
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4", len(docs))
	}
	var m manifests
	for i, dst := range []any{&m.cm, &m.svc, &m.np, &m.sts} {
		if err := yaml.UnmarshalStrict(docs[i], dst); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
	}
	return s, m
}

func TestBridgeManifests(t *testing.T) {
	s, m := decode(t, "")
	if m.cm.Kind != "ConfigMap" || m.svc.Kind != "Service" || m.np.Kind != "NetworkPolicy" || m.sts.Kind != "StatefulSet" {
		t.Fatalf("kinds: %s %s %s %s", m.cm.Kind, m.svc.Kind, m.np.Kind, m.sts.Kind)
	}
	if _, ok := m.cm.Data["LIGHTHOUSE_AUTH_SECRET"]; ok {
		t.Error("the secret is in the ConfigMap")
	}
	c := m.sts.Spec.Template.Spec.Containers[0]
	var secretRef *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Value != "" {
			t.Errorf("env %s has a literal value", e.Name)
		}
		if e.Name == "LIGHTHOUSE_AUTH_SECRET" && e.ValueFrom != nil {
			secretRef = e.ValueFrom.SecretKeyRef
		}
	}
	if secretRef == nil || secretRef.Name != "lighthouse-bridge-secrets" {
		t.Errorf("secret reference = %+v", secretRef)
	}
	if len(c.Env) != len(s.Env) {
		t.Errorf("%d env vars, spec has %d", len(c.Env), len(s.Env))
	}
	sc := c.SecurityContext
	if sc.RunAsNonRoot != nil || *sc.RunAsUser != 0 {
		t.Errorf("uid 0 service: runAsNonRoot=%v runAsUser=%v", sc.RunAsNonRoot, *sc.RunAsUser)
	}
	if *sc.AllowPrivilegeEscalation || sc.Privileged != nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("security context too loose: %+v", sc)
	}
	if len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 1 || sc.Capabilities.Add[0] != "SYS_ADMIN" {
		t.Errorf("capabilities = %+v", sc.Capabilities)
	}
	if q := c.Resources.Limits["smarter-devices/fuse"]; q.Value() != 1 {
		t.Errorf("FUSE device-plugin limit = %v", q.String())
	}
	if *m.sts.Spec.Replicas != 1 || len(m.sts.Spec.VolumeClaimTemplates) != 2 {
		t.Errorf("replicas %d, claims %d", *m.sts.Spec.Replicas, len(m.sts.Spec.VolumeClaimTemplates))
	}
	if c.LivenessProbe.HTTPGet.Path != "/health" || c.ReadinessProbe.HTTPGet.Path != "/status" || c.StartupProbe.HTTPGet.Path != "/health" {
		t.Error("probes do not follow the health spec")
	}
	if c.LivenessProbe.PeriodSeconds != 30 || c.LivenessProbe.TimeoutSeconds != 10 || c.LivenessProbe.FailureThreshold != 3 {
		t.Errorf("liveness timings = %+v", c.LivenessProbe)
	}
	if sp := c.StartupProbe; int(sp.PeriodSeconds*sp.FailureThreshold) < int(s.Health.StartPeriod.Seconds()) {
		t.Errorf("startup probe (%d×%ds) does not cover the start period %s", sp.FailureThreshold, sp.PeriodSeconds, s.Health.StartPeriod)
	}
	if len(m.np.Spec.Ingress) != 1 || len(m.np.Spec.Ingress[0].Ports) != 1 || m.np.Spec.Ingress[0].Ports[0].Port.IntValue() != 8765 {
		t.Errorf("network policy ingress = %+v", m.np.Spec.Ingress)
	}
	// Every writable path is a volume: mounts cover the spec's volumes.
	mounted := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		mounted[vm.MountPath] = true
	}
	for _, v := range s.Volumes {
		if !mounted[v.Path] {
			t.Errorf("volume %s (%s) not mounted", v.Name, v.Path)
		}
	}
}

func TestNonRootServiceManifests(t *testing.T) {
	_, m := decode(t, filepath.Join("..", "..", "..", "golden", "notes", "spec"))
	c := m.sts.Spec.Template.Spec.Containers[0]
	sc := c.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != 10001 {
		t.Errorf("non-root service: runAsNonRoot=%v runAsUser=%v", sc.RunAsNonRoot, sc.RunAsUser)
	}
	if len(sc.Capabilities.Add) != 0 || sc.AppArmorProfile != nil {
		t.Errorf("a service without FUSE got privileges: %+v", sc)
	}
	if _, ok := c.Resources.Limits["smarter-devices/fuse"]; ok {
		t.Error("a service without FUSE asks for the FUSE device")
	}
	if *m.sts.Spec.Replicas != 2 || len(m.svc.Spec.Ports) != 2 {
		t.Errorf("replicas %d, service ports %d", *m.sts.Spec.Replicas, len(m.svc.Spec.Ports))
	}
	if m.cm.Data["NOTES_GREETING"] != "cost: $5 per note, 'quoted'" {
		t.Errorf("ConfigMap value = %q", m.cm.Data["NOTES_GREETING"])
	}
}
