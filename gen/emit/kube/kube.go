// Package kube emits the Kubernetes manifests of a service from k8s.io/api
// objects: a ConfigMap of the non-secret environment, a Service, a
// NetworkPolicy admitting only the declared ports, and a StatefulSet whose
// security context matches the image's USER and the spec's privileges.
package kube

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"go.yaml.in/yaml/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// ConfigMapName and SecretName name the objects env vars come from; the
// Secret is created by operators, never generated.
func ConfigMapName(s *spec.Service) string { return s.Name + "-config" }

// SecretName is the Secret operators create with the secret variables.
func SecretName(s *spec.Service) string { return s.Name + "-secrets" }

// Emit returns kubernetes.yaml: ConfigMap, Service, NetworkPolicy and
// StatefulSet, in that order, separated by "---".
func Emit(s *spec.Service, o emit.Options) ([]byte, error) {
	objs, err := Objects(s)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for i, obj := range objs {
		y, err := marshal(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return emit.AddHeader(b.Bytes(), o.Version, s.Source, s.Digest, false), nil
}

// Objects builds the four objects of s.
func Objects(s *spec.Service) ([]any, error) {
	if err := visible(s); err != nil {
		return nil, err
	}
	sel := map[string]string{"app.kubernetes.io/name": s.Name}
	labels := map[string]string{"app.kubernetes.io/name": s.Name, "app.kubernetes.io/managed-by": "lighthouse-gen"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Labels: labels}
	}

	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(ConfigMapName(s)),
		Data:       map[string]string{},
	}
	var env []corev1.EnvVar
	for _, e := range s.Env {
		switch {
		case e.Secret || !e.HasValue:
			env = append(env, corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: SecretName(s)}, Key: e.Name},
			}})
		default:
			cm.Data[e.Name] = e.Value
			env = append(env, corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(s)}, Key: e.Name},
			}})
		}
	}

	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(s.Name),
		Spec:       corev1.ServiceSpec{Selector: sel},
	}
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta(s.Name),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: sel},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
	var cports []corev1.ContainerPort
	var npPorts []networkingv1.NetworkPolicyPort
	for _, p := range s.Ports {
		proto := corev1.Protocol(p.Protocol)
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: p.Name, Port: int32(p.Number), Protocol: proto, TargetPort: intstr.FromString(p.Name),
		})
		cports = append(cports, corev1.ContainerPort{Name: p.Name, ContainerPort: int32(p.Number), Protocol: proto})
		port := intstr.FromInt32(int32(p.Number))
		npPorts = append(npPorts, networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port})
	}
	if len(npPorts) > 0 {
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: npPorts}}
	}

	ctr, vols, claims, err := container(s, env, cports)
	if err != nil {
		return nil, err
	}
	replicas := int32(s.Workload.Replicas)
	grace := int64(s.Workload.StopGracePeriod.Seconds())
	podSec := &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if s.Image.UID != 0 {
		gid := int64(s.Image.GID)
		podSec.FSGroup = &gid
	}
	sts := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: meta(s.Name),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         s.Name,
			Selector:            &metav1.LabelSelector{MatchLabels: sel},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  ptr(false),
					EnableServiceLinks:            ptr(false),
					TerminationGracePeriodSeconds: &grace,
					SecurityContext:               podSec,
					Containers:                    []corev1.Container{ctr},
					Volumes:                       vols,
				},
			},
			VolumeClaimTemplates: claims,
		},
	}
	return []any{cm, svc, np, sts}, nil
}

// visible refuses a spec string with a character that is not visible
// text before any lands in a manifest: YAML would carry it (escaped or
// not), but a line break, bidirectional or invisible character in a
// manifest reads other than it is (see gen/emit/encode).
func visible(s *spec.Service) error {
	enc := &encode.Encoder{}
	const ctx = "a Kubernetes manifest"
	text := func(field, v string) { enc.Text(field, v, ctx) }
	name := func(field, v string) { enc.Name(field, v, ctx) }
	name("name", s.Name)
	name("image.ref", s.Image.Ref)
	name("image.workdir", enc.AbsPath("image.workdir", s.Image.Workdir))
	name("health.port", s.Health.Port)
	name("health.liveness", s.Health.Liveness)
	name("health.readiness", s.Health.Readiness)
	if s.FUSE != nil {
		name("kubernetes.fuseResource", s.Kubernetes.FUSEResource)
	}
	for k, v := range s.Labels {
		name(encode.Field("labels", k), k)
		text(encode.Field("labels", k), v)
	}
	for _, e := range s.Env {
		name(encode.Field("env", e.Name), e.Name)
		text(encode.Field("env", e.Name, "value"), e.Value)
	}
	for _, p := range s.Ports {
		name(encode.Field("ports", p.Name), p.Name)
		name(encode.Field("ports", p.Name, "protocol"), p.Protocol)
	}
	for _, v := range s.Volumes {
		name(encode.Field("volumes", v.Name), v.Name)
		name(encode.Field("volumes", v.Name, "path"), enc.AbsPath(encode.Field("volumes", v.Name, "path"), v.Path))
		text(encode.Field("volumes", v.Name, "size"), v.Size)
	}
	for _, c := range s.Security.Capabilities {
		name(encode.Field("security", "capabilities", c.Name), c.Name)
	}
	for _, q := range []struct{ field, v string }{
		{"resources.cpu.request", s.Resources.CPURequest}, {"resources.cpu.limit", s.Resources.CPULimit},
		{"resources.memory.request", s.Resources.MemoryRequest}, {"resources.memory.limit", s.Resources.MemoryLimit},
	} {
		name(q.field, q.v)
	}
	return enc.Err()
}

func container(s *spec.Service, env []corev1.EnvVar, ports []corev1.ContainerPort) (corev1.Container, []corev1.Volume, []corev1.PersistentVolumeClaim, error) {
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		list  corev1.ResourceList
		name  corev1.ResourceName
		field string
		value string
	}{
		{res.Requests, corev1.ResourceCPU, "resources.cpu.request", s.Resources.CPURequest},
		{res.Requests, corev1.ResourceMemory, "resources.memory.request", s.Resources.MemoryRequest},
		{res.Limits, corev1.ResourceCPU, "resources.cpu.limit", s.Resources.CPULimit},
		{res.Limits, corev1.ResourceMemory, "resources.memory.limit", s.Resources.MemoryLimit},
	} {
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return corev1.Container{}, nil, nil, quantityError(q.field, q.value, err)
		}
		q.list[q.name] = v
	}

	sec := &corev1.SecurityContext{
		RunAsUser:                ptr(int64(s.Image.UID)),
		RunAsGroup:               ptr(int64(s.Image.GID)),
		ReadOnlyRootFilesystem:   ptr(s.Security.ReadOnlyRoot),
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		AllowPrivilegeEscalation: ptr(false),
	}
	if s.Image.UID != 0 {
		sec.RunAsNonRoot = ptr(true)
	}
	for _, c := range s.Security.Capabilities {
		sec.Capabilities.Add = append(sec.Capabilities.Add, corev1.Capability(c.Name))
	}
	if s.FUSE != nil {
		// The runtime's default AppArmor profile denies mount(2).
		sec.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		if s.Kubernetes.FUSEDevice == "device-plugin" {
			one := resource.MustParse("1")
			res.Requests[corev1.ResourceName(s.Kubernetes.FUSEResource)] = one
			res.Limits[corev1.ResourceName(s.Kubernetes.FUSEResource)] = one
		}
	}
	if s.Security.Privileged {
		// The API server rejects privileged with allowPrivilegeEscalation false.
		sec.Privileged = ptr(true)
		sec.AllowPrivilegeEscalation = nil
	}

	var mounts []corev1.VolumeMount
	var vols []corev1.Volume
	var claims []corev1.PersistentVolumeClaim
	for _, v := range s.Volumes {
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: v.Path})
		if v.Persistent {
			size, err := resource.ParseQuantity(v.Size)
			if err != nil {
				return corev1.Container{}, nil, nil, quantityError(encode.Field("volumes", v.Name, "size"), v.Size, err)
			}
			claims = append(claims, corev1.PersistentVolumeClaim{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: metav1.ObjectMeta{Name: v.Name},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				},
			})
			continue
		}
		ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
		if v.Size != "" {
			q, err := resource.ParseQuantity(v.Size)
			if err != nil {
				return corev1.Container{}, nil, nil, quantityError(encode.Field("volumes", v.Name, "size"), v.Size, err)
			}
			ed.SizeLimit = &q
		}
		vols = append(vols, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{EmptyDir: ed}})
	}

	h := s.Health
	probe := func(p string, threshold int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: p, Port: intstr.FromString(h.Port), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    int32(h.Interval.Seconds()),
			TimeoutSeconds:   int32(h.Timeout.Seconds()),
			FailureThreshold: threshold,
		}
	}
	// The startup probe gives the service its start period, then the
	// same retries the liveness probe allows.
	startup := int32(math.Ceil(h.StartPeriod.Seconds()/h.Interval.Seconds())) + int32(h.Retries)

	ctr := corev1.Container{
		Name:            s.Name,
		Image:           s.Image.Ref,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Ports:           ports,
		Env:             env,
		Resources:       res,
		VolumeMounts:    mounts,
		LivenessProbe:   probe(h.Liveness, int32(h.Retries)),
		ReadinessProbe:  probe(h.Readiness, int32(h.Retries)),
		StartupProbe:    probe(h.Liveness, startup),
		SecurityContext: sec,
		WorkingDir:      s.Image.Workdir,
	}
	return ctr, vols, claims, nil
}

// quantityError refuses a quantity the upstream parser does not read.
func quantityError(field, value string, err error) error {
	return encode.Errors{{Field: field, Value: value, Context: "a Kubernetes quantity", Reason: err.Error()}}
}

// marshal renders one object as YAML without the server-owned fields
// (status, creationTimestamp) that a typed object always carries.
func marshal(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	prune(m)
	// What sigs.k8s.io/yaml.JSONToYAML would do with the pruned tree
	// marshalled once more: go-yaml v2 (the library it uses) writes the
	// values go-yaml reads from that JSON, without the JSON in between.
	return yaml.Marshal(yamlValue(m))
}

// yamlValue turns a JSON tree decoded with UseNumber into the values
// go-yaml v2 reads from the same JSON: numbers become int when they fit,
// then uint64, else float64; everything else is already what it reads.
func yamlValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = yamlValue(e)
		}
	case []any:
		for i, e := range v {
			v[i] = yamlValue(e)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return int(i)
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
	}
	return v
}

// prune drops the server-owned fields a typed object always carries:
// status and a null metadata.creationTimestamp, on the object, its pod
// template and its claim templates.
func prune(obj map[string]any) {
	clean := func(o map[string]any) {
		delete(o, "status")
		if md, ok := o["metadata"].(map[string]any); ok {
			if ts, ok := md["creationTimestamp"]; ok && ts == nil {
				delete(md, "creationTimestamp")
			}
			if len(md) == 0 {
				delete(o, "metadata")
			}
		}
	}
	clean(obj)
	spec, _ := obj["spec"].(map[string]any)
	if t, ok := spec["template"].(map[string]any); ok {
		clean(t)
	}
	if claims, ok := spec["volumeClaimTemplates"].([]any); ok {
		for _, c := range claims {
			if m, ok := c.(map[string]any); ok {
				clean(m)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
