package podsecurity

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode"

	"golang.org/x/mod/modfile"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"sigs.k8s.io/yaml"
)

func newEvaluator(t testing.TB) *Evaluator {
	t.Helper()
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// workloads reads every document of a generated kubernetes.yaml and decodes,
// strictly into the k8s.io/api type, each one that carries a pod.
func workloads(t testing.TB, path string) []runtime.Object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]func() runtime.Object{
		"v1/Pod":                   func() runtime.Object { return &corev1.Pod{} },
		"apps/v1/StatefulSet":      func() runtime.Object { return &appsv1.StatefulSet{} },
		"apps/v1/Deployment":       func() runtime.Object { return &appsv1.Deployment{} },
		"apps/v1/DaemonSet":        func() runtime.Object { return &appsv1.DaemonSet{} },
		"apps/v1/ReplicaSet":       func() runtime.Object { return &appsv1.ReplicaSet{} },
		"v1/ReplicationController": func() runtime.Object { return &corev1.ReplicationController{} },
	}
	var objs []runtime.Object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			continue
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: %s: %v", path, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func onlyWorkload(t testing.TB, path string) runtime.Object {
	t.Helper()
	objs := workloads(t, path)
	if len(objs) != 1 {
		t.Fatalf("%s: %d workloads, want 1", path, len(objs))
	}
	return objs[0]
}

// The bridge mounts a FUSE file system: it adds SYS_ADMIN and runs AppArmor
// unconfined (baseline refuses both), and runs as root (restricted refuses
// that as well).
func TestBridgeNeedsPrivileged(t *testing.T) {
	e := newEvaluator(t)
	r, err := e.Object(onlyWorkload(t, filepath.Join("..", "..", "deploy", "kubernetes.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	const want = `Pod Security: privileged — ` +
		`forbidden AppArmor profile (container "lighthouse-bridge" must not set AppArmor profile type to "Unconfined"), ` +
		`non-default capabilities (container "lighthouse-bridge" must not include "SYS_ADMIN" in securityContext.capabilities.add)`
	if got := r.String(); got != want {
		t.Errorf("line:\n got %s\nwant %s", got, want)
	}
	if r.Level != Privileged || len(r.Refusals) != 2 || r.Refusals[0].Level != Baseline || r.Refusals[1].Level != Restricted {
		t.Fatalf("result: %+v", r)
	}
	wantRestricted := []string{
		"forbidden AppArmor profile",
		"unrestricted capabilities", "runAsNonRoot != true", "runAsUser=0",
	}
	if got := r.Refusals[1].ForbiddenReasons; !reflect.DeepEqual(got, wantRestricted) {
		t.Errorf("restricted refuses for %q, want %q", got, wantRestricted)
	}
	t.Log(r)
	t.Log("restricted: " + r.Refusals[1].Reasons())
}

// The notes example runs as a non-root user with every capability dropped,
// no privilege escalation and the runtime's seccomp profile.
func TestNotesIsRestricted(t *testing.T) {
	e := newEvaluator(t)
	r, err := e.Object(onlyWorkload(t, filepath.Join("..", "..", "golden", "notes", "out", "kubernetes.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Level != Restricted || len(r.Refusals) != 0 || r.String() != "Pod Security: restricted" {
		t.Fatalf("notes: %s (%+v)", r, r)
	}
}

// TestGoldenManifests evaluates every golden kubernetes.yaml, so a new
// golden service whose pod the library cannot evaluate fails here; the
// levels are logged, and only the two above are held.
func TestGoldenManifests(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "golden", "*", "out", "kubernetes.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden manifests: %v", err)
	}
	e := newEvaluator(t)
	for _, p := range paths {
		for _, obj := range workloads(t, p) {
			r, err := e.Object(obj)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			t.Logf("%s: %s", p, r)
		}
	}
}

func restrictedPod() *corev1.PodSpec {
	f := false
	t := true
	return &corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   &t,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:  "app",
			Image: "app:1",
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: &f,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}},
			},
		}},
		Volumes: []corev1.Volume{
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		},
	}
}

// TestHandMadePods holds one pod per level, and for the stricter levels the
// library's reasons, in the library's order.
func TestHandMadePods(t *testing.T) {
	yes := true
	cases := []struct {
		name  string
		meta  *metav1.ObjectMeta
		spec  func() *corev1.PodSpec
		level api.Level
		// reasons the next stricter level gives, in order
		reasons []string
	}{
		{name: "restricted", spec: restrictedPod, level: Restricted},
		{
			name: "no security context is baseline",
			spec: func() *corev1.PodSpec {
				return &corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}
			},
			level: Baseline,
			reasons: []string{
				"allowPrivilegeEscalation != false", "unrestricted capabilities",
				"runAsNonRoot != true", "seccompProfile",
			},
		},
		{
			name: "root user and a hostPath-free extra capability is baseline",
			spec: func() *corev1.PodSpec {
				p := restrictedPod()
				p.SecurityContext.RunAsNonRoot = nil
				p.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"CHOWN"}
				return p
			},
			level:   Baseline,
			reasons: []string{"unrestricted capabilities", "runAsNonRoot != true"},
		},
		{
			name: "privileged container",
			spec: func() *corev1.PodSpec {
				p := restrictedPod()
				p.Containers[0].SecurityContext.Privileged = &yes
				return p
			},
			level:   Privileged,
			reasons: []string{"privileged"},
		},
		{
			name: "host namespaces, hostPath and hostPort",
			spec: func() *corev1.PodSpec {
				p := restrictedPod()
				p.HostNetwork, p.HostPID = true, true
				p.Volumes = append(p.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
				p.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
				return p
			},
			level:   Privileged,
			reasons: []string{"host namespaces", "hostPath volumes", "hostPort"},
		},
		{
			name: "AppArmor unconfined by annotation",
			meta: &metav1.ObjectMeta{Annotations: map[string]string{
				corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "app": "unconfined",
			}},
			spec:    restrictedPod,
			level:   Privileged,
			reasons: []string{"forbidden AppArmor profile"},
		},
		{
			name: "unsafe sysctl",
			spec: func() *corev1.PodSpec {
				p := restrictedPod()
				p.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net.core.somaxconn", Value: "1024"}}
				return p
			},
			level:   Privileged,
			reasons: []string{"forbidden sysctls"},
		},
	}
	e := newEvaluator(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := e.Pod(c.meta, c.spec())
			if err != nil {
				t.Fatal(err)
			}
			if r.Level != c.level {
				t.Fatalf("level %s, want %s: %s", r.Level, c.level, r)
			}
			if c.reasons == nil {
				if len(r.Refusals) != 0 {
					t.Fatalf("refusals for a %s pod: %+v", c.level, r.Refusals)
				}
				return
			}
			if got := r.Refusals[0].ForbiddenReasons; !reflect.DeepEqual(got, c.reasons) {
				t.Errorf("reasons %q, want %q", got, c.reasons)
			}
			if !strings.HasPrefix(r.String(), "Pod Security: "+string(c.level)+" — ") {
				t.Errorf("line %q", r)
			}
			t.Log(r)
		})
	}
}

// TestObjectKinds takes the pod from each kind that carries one, and refuses
// the others and nil objects.
func TestObjectKinds(t *testing.T) {
	e := newEvaluator(t)
	tmpl := corev1.PodTemplateSpec{Spec: *restrictedPod()}
	yes := true
	tmpl.Spec.Containers[0].SecurityContext.Privileged = &yes
	for _, obj := range []runtime.Object{
		&corev1.Pod{Spec: tmpl.Spec},
		&corev1.PodTemplate{Template: tmpl},
		&corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &tmpl}},
		&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: tmpl}},
		&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl}},
		&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: tmpl}},
		&appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: tmpl}},
	} {
		r, err := e.Object(obj)
		if err != nil || r.Level != Privileged {
			t.Errorf("%T: %v %v", obj, r, err)
		}
	}
	for _, obj := range []runtime.Object{
		nil,
		(*appsv1.StatefulSet)(nil),
		(*corev1.Pod)(nil),
		&corev1.Service{},
		&corev1.ConfigMap{},
		&corev1.ReplicationController{},
	} {
		if r, err := e.Object(obj); !errors.Is(err, ErrNoPod) {
			t.Errorf("%T: %v %v, want ErrNoPod", obj, r, err)
		}
	}
	if _, err := e.Pod(&metav1.ObjectMeta{}, nil); !errors.Is(err, ErrNoPod) {
		t.Errorf("nil spec: %v", err)
	}
	for _, e := range []*Evaluator{nil, {}} {
		if _, err := e.Pod(nil, restrictedPod()); err == nil {
			t.Errorf("an Evaluator not made by New evaluated a pod")
		}
	}
}

// TestOneLine: names taken from the pod reach the reasons unescaped by the
// library; the line escapes what would break it or hide in it.
func TestOneLine(t *testing.T) {
	p := restrictedPod()
	p.Containers[0].Name = "app\nPod Security: restricted\u2028\x1b[2K"
	p.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
	meta := &metav1.ObjectMeta{Annotations: map[string]string{
		corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "x\ry": "unconfined",
	}}
	r, err := newEvaluator(t).Pod(meta, p)
	if err != nil {
		t.Fatal(err)
	}
	line := r.String()
	if strings.ContainsAny(line, "\n\r\x1b\u2028") {
		t.Fatalf("not one line: %q", line)
	}
	for _, want := range []string{`app\nPod Security: restricted\u2028\x1b[2K`, `x\ry`} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}

// TestDeterministic: the reasons do not depend on map order (annotations)
// nor on which goroutine asks.
func TestDeterministic(t *testing.T) {
	meta := &metav1.ObjectMeta{Annotations: map[string]string{}}
	for _, c := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		meta.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+c] = "unconfined"
	}
	e := newEvaluator(t)
	first, err := e.Pod(meta, restrictedPod())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				r, err := e.Pod(meta, restrictedPod())
				if err != nil || r.String() != first.String() {
					t.Errorf("%q, want %q (%v)", r, first, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestPolicyVersion holds PolicyVersion to the library's module version in
// go.mod (v0.N.x is Kubernetes v1.N), and checks that "latest" of that
// library is no different from it on every pod these tests know.
func TestPolicyVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.ParseLax("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mod string
	for _, r := range f.Require {
		if r.Mod.Path == "k8s.io/pod-security-admission" {
			mod = r.Mod.Version
		}
	}
	for _, r := range f.Replace {
		if r.Old.Path == "k8s.io/pod-security-admission" {
			t.Fatalf("go.mod replaces k8s.io/pod-security-admission: hold PolicyVersion to the replacement by hand")
		}
	}
	minor, _, ok := strings.Cut(strings.TrimPrefix(mod, "v0."), ".")
	if !ok || "v1."+minor != PolicyVersion {
		t.Fatalf("k8s.io/pod-security-admission %s is Kubernetes v1.%s; PolicyVersion is %s", mod, minor, PolicyVersion)
	}

	e := newEvaluator(t)
	latest := &Evaluator{eval: e.eval, version: api.LatestVersion()}
	pods := []*corev1.PodSpec{restrictedPod(), {Containers: []corev1.Container{{Name: "app"}}}}
	for _, p := range []string{
		filepath.Join("..", "..", "deploy", "kubernetes.yaml"),
		filepath.Join("..", "..", "golden", "notes", "out", "kubernetes.yaml"),
	} {
		_, spec, err := podOf(onlyWorkload(t, p))
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, spec)
	}
	for i, p := range pods {
		a, _ := e.Pod(nil, p)
		b, _ := latest.Pod(nil, p)
		if a.Version.String() != PolicyVersion || !reflect.DeepEqual(a.Refusals, b.Refusals) || a.Level != b.Level {
			t.Errorf("pod %d: %s at %s, %s at latest", i, a, a.Version, b)
		}
	}
}

func TestLabels(t *testing.T) {
	r, err := newEvaluator(t).Pod(nil, restrictedPod())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "v1.37",
	}
	if got := r.Labels(); !reflect.DeepEqual(got, want) {
		t.Errorf("labels %v, want %v", got, want)
	}
}

// FuzzOneLine: whatever a name holds, the line stays one line of printable
// characters.
func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"app", "a\nb", "\u2028", "\x00\xff", "\u200b"} {
		f.Add(s)
	}
	e := newEvaluator(f)
	f.Fuzz(func(t *testing.T, name string) {
		p := restrictedPod()
		p.Containers[0].Name = name
		p.Containers[0].SecurityContext.Privileged = new(true)
		r, err := e.Pod(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.String() {
			if !unicode.IsPrint(c) {
				t.Fatalf("%q in %q", c, r)
			}
		}
	})
}
