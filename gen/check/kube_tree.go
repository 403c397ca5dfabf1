package check

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Tree is the manifest as the API server stores it: one entry per object
// (keyed "Kind/name"), each object decoded strictly into its k8s.io/api
// type, with the defaults the API server and the kubelet fill in applied
// (so an omitted protocol: TCP, scheme: HTTP or privileged: false equals
// a written one), quantities in canonical form (1Gi and 1073741824 are
// one), named ports resolved to numbers, and lists keyed the way the API
// merges them (containers and env by name, container ports by number,
// mounts by path) or, where it treats them as sets (capabilities, access
// modes, policy types), as sets.
func (k *Kube) Tree() *Node {
	root := NewMap(1)
	ports := k.containerPorts()
	for _, d := range k.Docs {
		obj := deepCopy(d.Object)
		applyKubeDefaults(obj, ports)
		raw, err := json.Marshal(obj)
		if err != nil {
			continue
		}
		v, err := decodeJSON(raw)
		if err != nil {
			continue
		}
		m, _ := v.(map[string]any)
		delete(m, "status")
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		pruneNulls(m)
		t := jsonTree{rule: kubeListRule(reflect.TypeOf(obj)), line: d.Line}
		key := d.Kind + "/" + d.Name
		for n := 2; root.Get(key) != nil; n++ {
			key = fmt.Sprintf("%s/%s#%d", d.Kind, d.Name, n) // the same object twice: the second is extra
		}
		root.Set(key, t.build(m, nil, ""))
	}
	return root
}

// deepCopy copies a decoded object so defaulting leaves the parsed
// manifest as written.
func deepCopy(obj any) any {
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		return o.DeepCopy()
	case *corev1.Secret:
		return o.DeepCopy()
	case *corev1.Service:
		return o.DeepCopy()
	case *corev1.PersistentVolumeClaim:
		return o.DeepCopy()
	case *networkingv1.NetworkPolicy:
		return o.DeepCopy()
	case *appsv1.StatefulSet:
		return o.DeepCopy()
	case *appsv1.Deployment:
		return o.DeepCopy()
	}
	return obj
}

// pruneNulls drops null values and the empty objects a typed value
// always marshals (an empty resources: {}), which the source may or may
// not have written.
func pruneNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e = pruneNulls(e)
			if e == nil {
				delete(v, k)
				continue
			}
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				delete(v, k)
				continue
			}
			v[k] = e
		}
	case []any:
		for i, e := range v {
			v[i] = pruneNulls(e)
		}
	}
	return v
}

// kubeListRule reads how the API merges each list from the k8s.io/api
// type itself (the patchMergeKey of the field), with the lists the API
// treats as sets, or keys by a nested field, named here.
func kubeListRule(root reflect.Type) func(names []string) listRule {
	return func(names []string) listRule {
		last := ""
		if len(names) > 0 {
			last = names[len(names)-1]
		}
		switch last {
		case "add", "drop", "accessModes", "policyTypes", "finalizers", "supplementalGroups":
			return listRule{kind: set, norm: capNameIf(last == "add" || last == "drop")}
		case "volumeClaimTemplates":
			return listRule{kind: keyed, key: keyOf("metadata.name")}
		case "envFrom":
			return listRule{kind: keyed, key: func(item any) string {
				m, _ := item.(map[string]any)
				return scalarString(lookup(m, "prefix")) + "/" + scalarString(lookup(m, "configMapRef.name")) + scalarString(lookup(m, "secretRef.name"))
			}}
		}
		if f, ok := fieldAt(root, names); ok {
			if key := f.Tag.Get("patchMergeKey"); key != "" {
				if key == "containerPort" || key == "port" {
					return listRule{kind: keyed, key: keyOf(key, "protocol")}
				}
				return listRule{kind: keyed, key: keyOf(key)}
			}
		}
		if len(names) >= 2 && names[len(names)-1] == "ports" && names[len(names)-2] == "[]" {
			return listRule{kind: keyed, key: keyOf("port", "protocol")} // NetworkPolicy ports
		}
		return listRule{}
	}
}

func capNameIf(caps bool) func(string) string {
	if caps {
		return capName
	}
	return nil
}

// fieldAt walks a k8s.io/api type along JSON names ("[]" for a list
// item) and returns the struct field of the last name.
func fieldAt(t reflect.Type, names []string) (reflect.StructField, bool) {
	var f reflect.StructField
	found := false
	for _, n := range names {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if n == "[]" {
			if t.Kind() != reflect.Slice {
				return f, false
			}
			t = t.Elem()
			continue
		}
		if t.Kind() == reflect.Map {
			t = t.Elem()
			continue
		}
		if t.Kind() != reflect.Struct {
			return f, false
		}
		f, found = jsonField(t, n)
		if !found {
			return f, false
		}
		t = f.Type
	}
	return f, found
}

// jsonField finds the field of struct type t that JSON names name,
// looking into inlined embedded structs.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && (tag == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if g, ok := jsonField(ft, name); ok {
					return g, true
				}
			}
			continue
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// containerPorts maps each container port name of the manifest's
// workloads to its number, to resolve named ports (a Service's
// targetPort, a probe's port) to what they mean. A name with two numbers
// is left unresolved.
func (k *Kube) containerPorts() map[string]int32 {
	out := map[string]int32{}
	bad := map[string]bool{}
	for _, d := range k.Docs {
		pod := podSpec(d.Object)
		if pod == nil {
			continue
		}
		for _, cs := range [][]corev1.Container{pod.InitContainers, pod.Containers} {
			for _, c := range cs {
				for _, p := range c.Ports {
					if p.Name == "" {
						continue
					}
					if n, ok := out[p.Name]; ok && n != p.ContainerPort {
						bad[p.Name] = true
					}
					out[p.Name] = p.ContainerPort
				}
			}
		}
	}
	for n := range bad {
		delete(out, n)
	}
	return out
}

// podSpec returns a workload's pod template spec, nil for other kinds.
func podSpec(obj any) *corev1.PodSpec {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec
	}
	return nil
}

func resolvePortRef(p *intstr.IntOrString, ports map[string]int32) {
	if p != nil && p.Type == intstr.String {
		if n, ok := ports[p.StrVal]; ok {
			*p = intstr.FromInt32(n)
		} else if i, err := strconv.Atoi(p.StrVal); err == nil {
			*p = intstr.FromInt(i)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// setDefault sets *p to v when it is nil.
func setDefault[T any](p **T, v T) {
	if *p == nil {
		*p = ptrTo(v)
	}
}

// applyKubeDefaults fills in what the API server's defaulting (the
// SetDefaults_* functions of k8s.io/kubernetes/pkg/apis/*/v1) and the
// kubelet assume for a field left out, for the kinds the checks decode;
// and writes every quantity in canonical form and every named port as
// its number.
func applyKubeDefaults(obj any, ports map[string]int32) {
	switch o := obj.(type) {
	case *corev1.Service:
		if o.Spec.Type == "" {
			o.Spec.Type = corev1.ServiceTypeClusterIP
		}
		if o.Spec.SessionAffinity == "" {
			o.Spec.SessionAffinity = corev1.ServiceAffinityNone
		}
		if o.Spec.Type == corev1.ServiceTypeClusterIP || o.Spec.Type == corev1.ServiceTypeNodePort || o.Spec.Type == corev1.ServiceTypeLoadBalancer {
			setDefault(&o.Spec.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster)
		}
		for i := range o.Spec.Ports {
			p := &o.Spec.Ports[i]
			if p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
			if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
				p.TargetPort = intstr.FromInt32(p.Port)
			}
			resolvePortRef(&p.TargetPort, ports)
		}
	case *networkingv1.NetworkPolicy:
		if len(o.Spec.PolicyTypes) == 0 {
			o.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(o.Spec.Egress) > 0 {
				o.Spec.PolicyTypes = append(o.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			}
		}
		for i := range o.Spec.Ingress {
			npPorts(o.Spec.Ingress[i].Ports, ports)
		}
		for i := range o.Spec.Egress {
			npPorts(o.Spec.Egress[i].Ports, ports)
		}
	case *corev1.PersistentVolumeClaim:
		pvcDefaults(&o.Spec)
	case *appsv1.StatefulSet:
		setDefault(&o.Spec.Replicas, 1)
		setDefault(&o.Spec.RevisionHistoryLimit, 10)
		if o.Spec.PodManagementPolicy == "" {
			o.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		}
		if o.Spec.UpdateStrategy.Type == "" {
			o.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		}
		if o.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
			if o.Spec.UpdateStrategy.RollingUpdate == nil {
				o.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
			}
			setDefault(&o.Spec.UpdateStrategy.RollingUpdate.Partition, 0)
		}
		if o.Spec.PersistentVolumeClaimRetentionPolicy == nil {
			o.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
		}
		if o.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
			o.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		}
		if o.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
			o.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		}
		for i := range o.Spec.VolumeClaimTemplates {
			pvcDefaults(&o.Spec.VolumeClaimTemplates[i].Spec)
			o.Spec.VolumeClaimTemplates[i].TypeMeta = metav1.TypeMeta{}
		}
		podDefaults(&o.Spec.Template.Spec, ports)
	case *appsv1.Deployment:
		setDefault(&o.Spec.Replicas, 1)
		setDefault(&o.Spec.RevisionHistoryLimit, 10)
		setDefault(&o.Spec.ProgressDeadlineSeconds, 600)
		if o.Spec.Strategy.Type == "" {
			o.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
		}
		if o.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
			if o.Spec.Strategy.RollingUpdate == nil {
				o.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
			}
			quarter := intstr.FromString("25%")
			setDefault(&o.Spec.Strategy.RollingUpdate.MaxUnavailable, quarter)
			setDefault(&o.Spec.Strategy.RollingUpdate.MaxSurge, quarter)
		}
		podDefaults(&o.Spec.Template.Spec, ports)
	}
	canonicalQuantities(reflect.ValueOf(obj))
}

func npPorts(ps []networkingv1.NetworkPolicyPort, ports map[string]int32) {
	for i := range ps {
		setDefault(&ps[i].Protocol, corev1.ProtocolTCP)
		resolvePortRef(ps[i].Port, ports)
	}
}

func pvcDefaults(s *corev1.PersistentVolumeClaimSpec) {
	setDefault(&s.VolumeMode, corev1.PersistentVolumeFilesystem)
}

// podDefaults fills in a pod spec's defaults. Besides the API server's,
// the security fields a runtime reads as a fixed value when unset are set
// to it (privileged, readOnlyRootFilesystem and runAsNonRoot false; host
// user namespace, service links and a service account token true;
// privilege escalation allowed), so stating the runtime's behaviour
// equals leaving it out, and leaving out a restriction is a difference.
func podDefaults(p *corev1.PodSpec, ports map[string]int32) {
	if p.RestartPolicy == "" {
		p.RestartPolicy = corev1.RestartPolicyAlways
	}
	if p.DNSPolicy == "" {
		p.DNSPolicy = corev1.DNSClusterFirst
	}
	if p.SchedulerName == "" {
		p.SchedulerName = corev1.DefaultSchedulerName
	}
	setDefault(&p.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)
	setDefault(&p.EnableServiceLinks, corev1.DefaultEnableServiceLinks)
	setDefault(&p.AutomountServiceAccountToken, true)
	setDefault(&p.HostUsers, true)
	setDefault(&p.ShareProcessNamespace, false)
	if p.SecurityContext == nil {
		p.SecurityContext = &corev1.PodSecurityContext{}
	}
	setDefault(&p.SecurityContext.RunAsNonRoot, false)
	for i := range p.Volumes {
		v := &p.Volumes[i]
		switch {
		case v.ConfigMap != nil:
			setDefault(&v.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
		case v.Secret != nil:
			setDefault(&v.Secret.DefaultMode, corev1.SecretVolumeSourceDefaultMode)
		case v.HostPath != nil:
			setDefault(&v.HostPath.Type, corev1.HostPathUnset)
		case v.VolumeSource == (corev1.VolumeSource{}):
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	for _, cs := range [][]corev1.Container{p.InitContainers, p.Containers} {
		for i := range cs {
			containerDefaults(&cs[i], ports)
		}
	}
	for i := range p.EphemeralContainers {
		c := corev1.Container(p.EphemeralContainers[i].EphemeralContainerCommon)
		containerDefaults(&c, ports)
		p.EphemeralContainers[i].EphemeralContainerCommon = corev1.EphemeralContainerCommon(c)
	}
}

func containerDefaults(c *corev1.Container, ports map[string]int32) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
		if tagOf(c.Image) == "" || tagOf(c.Image) == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 1
		}
		if p.PeriodSeconds == 0 {
			p.PeriodSeconds = 10
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 1
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 3
		}
		if h := p.HTTPGet; h != nil {
			if h.Path == "" {
				h.Path = "/"
			}
			if h.Scheme == "" {
				h.Scheme = corev1.URISchemeHTTP
			}
			resolvePortRef(&h.Port, ports)
		}
		if t := p.TCPSocket; t != nil {
			resolvePortRef(&t.Port, ports)
		}
		if g := p.GRPC; g != nil {
			setDefault(&g.Service, "")
		}
	}
	// A container with limits and no request for a resource requests
	// its limit.
	for name, q := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[name] = q
		}
	}
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	sc := c.SecurityContext
	setDefault(&sc.Privileged, false)
	setDefault(&sc.ReadOnlyRootFilesystem, false)
	setDefault(&sc.AllowPrivilegeEscalation, true)
	if sc.Capabilities != nil && len(sc.Capabilities.Add) == 0 && len(sc.Capabilities.Drop) == 0 {
		sc.Capabilities = nil
	}
}

// tagOf is an image reference's tag ("" when it has none or only a digest).
func tagOf(ref string) string {
	if strings.Contains(ref, "@") {
		return "digest"
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	return ""
}

var quantityType = reflect.TypeOf(resource.Quantity{})

// canonicalQuantities rewrites every resource.Quantity reachable from v
// in one canonical spelling, so 1Gi and 1073741824, 0.5 and 500m are one.
func canonicalQuantities(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			canonicalQuantities(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == quantityType {
			if v.CanSet() {
				q := v.Interface().(resource.Quantity)
				v.Set(reflect.ValueOf(canonicalQuantity(q)))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				canonicalQuantities(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			canonicalQuantities(v.Index(i))
		}
	case reflect.Map:
		if v.Type().Elem() == quantityType {
			for _, k := range v.MapKeys() {
				q := v.MapIndex(k).Interface().(resource.Quantity)
				v.SetMapIndex(k, reflect.ValueOf(canonicalQuantity(q)))
			}
			return
		}
		for _, k := range v.MapKeys() {
			e := v.MapIndex(k)
			if e.Kind() == reflect.Pointer || e.Kind() == reflect.Map || e.Kind() == reflect.Slice {
				canonicalQuantities(e)
			}
		}
	}
}

// canonicalQuantity writes a quantity in one spelling per amount: in
// milli-units when it has a fraction of a unit, in binary units (Ki, Mi,
// Gi...) when it is a whole number of KiB, else in decimal units.
func canonicalQuantity(q resource.Quantity) resource.Quantity {
	if m := q.MilliValue(); m%1000 != 0 {
		return *resource.NewMilliQuantity(m, resource.DecimalSI)
	}
	if v := q.Value(); v != 0 && v%1024 == 0 {
		return *resource.NewQuantity(v, resource.BinarySI)
	}
	return *resource.NewQuantity(q.Value(), resource.DecimalSI)
}
