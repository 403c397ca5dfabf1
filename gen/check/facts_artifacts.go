package check

import (
	"fmt"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"mvdan.cc/sh/v3/syntax"
)

// Argv prints a command's words as one comparable value, each word
// quoted (["/bin/x", "serve"]), so ["a b"] and ["a", "b"] differ.
func Argv(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Seconds prints a duration the way every source's facts hold it.
func Seconds(d time.Duration) string { return d.String() }

// WholeSeconds prints n seconds as Seconds does; a count too large for a
// time.Duration (more than about 292 years) prints as itself ("<n>s"),
// never wrapped around into another, smaller duration.
func WholeSeconds(n int64) string {
	if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
		return strconv.FormatInt(n, 10) + "s"
	}
	return Seconds(time.Duration(n) * time.Second)
}

// CPU and Memory print a resource amount canonically: CPU in millicores,
// memory in bytes, whatever unit the source wrote.
func CPU(q resource.Quantity) string    { return strconv.FormatInt(q.MilliValue(), 10) + "m" }
func Memory(q resource.Quantity) string { return strconv.FormatInt(q.Value(), 10) }

// Facts reads what the Dockerfile's final stage says about the service.
func (d *Dockerfile) Facts() *Facts {
	f := NewFacts(d.File)
	v := func(view string, line int, val string) Value {
		return Value{V: val, View: view, File: d.File, Line: line}
	}
	if d.Entrypoint != nil {
		ep := d.Entrypoint
		if !d.EntrypointExec {
			ep = append([]string{"/bin/sh", "-c"}, strings.Join(ep, " "))
		}
		f.Add(FieldEntrypoint, v("ENTRYPOINT", d.EntrypointLine, Argv(ep)))
	}
	if d.UserLine != 0 {
		u, g, hasG := strings.Cut(d.User, ":")
		f.Add(FieldUID, v("Dockerfile USER", d.UserLine, u))
		if hasG {
			f.Add(FieldGID, v("Dockerfile USER", d.UserLine, g))
		}
	}
	f.Express(FieldPorts, "Dockerfile EXPOSE", d.File, 1)
	for _, p := range d.Expose {
		f.Add(FieldPorts, Value{Key: p.Port, View: "Dockerfile EXPOSE", File: d.File, Line: p.Line})
	}
	if h := d.Health; h != nil && len(h.Test) > 0 && h.Test[0] != "NONE" {
		f.Add(FieldHealthTest, v("HEALTHCHECK", h.Line, Argv(h.Test)))
		f.Add(FieldInterval, v("HEALTHCHECK --interval", h.Line, Seconds(h.Interval)))
		f.Add(FieldTimeout, v("HEALTHCHECK --timeout", h.Line, Seconds(h.Timeout)))
		f.Add(FieldStartPeriod, v("HEALTHCHECK --start-period", h.Line, Seconds(h.StartPeriod)))
		f.Add(FieldRetries, v("HEALTHCHECK --retries", h.Line, strconv.Itoa(h.Retries)))
	}
	// The image's ENV are defaults compose and Kubernetes may state
	// again: those it has must agree, and none is required.
	f.Partial[FieldEnvValues] = true
	f.Express(FieldEnvValues, "Dockerfile ENV", d.File, 1)
	for _, e := range d.Env {
		f.Add(FieldEnvValues, Value{Key: e.Key, V: e.Value, View: "Dockerfile ENV", File: d.File, Line: e.Line})
	}
	if d.WorkdirLine != 0 {
		f.Add(FieldWorkdir, v("Dockerfile WORKDIR", d.WorkdirLine, d.Workdir))
	}
	return f
}

// Facts reads what the start script says: the process it execs, the
// variables it requires or sets, whether it checks for /dev/fuse.
func (s *Script) Facts() *Facts {
	f := NewFacts(s.File)
	if s.Exec != nil {
		f.Add(FieldEntry, Value{V: Argv(s.Exec), View: "start.sh exec", File: s.File, Line: s.ExecLine})
	}
	f.Express(FieldEnvRequired, "start.sh required variables", s.File, s.LastLine)
	for _, name := range slices.Sorted(maps.Keys(s.Required)) {
		f.Add(FieldEnvRequired, Value{Key: name, View: "start.sh required variables", File: s.File, Line: s.Required[name]})
	}
	f.Partial[FieldEnvValues] = true
	f.Express(FieldEnvValues, "start.sh", s.File, s.LastLine)
	for _, a := range s.Assigns {
		f.Add(FieldEnvValues, Value{Key: a.Name, V: a.Value, View: "start.sh", File: s.File, Line: a.Line})
	}
	fuse := Value{V: "false", View: "start.sh [ -c /dev/fuse ]", File: s.File, Line: s.LastLine}
	if s.FuseCheckLine != 0 {
		fuse.V, fuse.Line = "true", s.FuseCheckLine
	}
	f.Add(FieldFUSE, fuse)
	return f
}

// Facts reads what compose's one service says; nil when the file does
// not hold exactly one service (a parse finding says so).
func (c *Compose) Facts() *Facts {
	name, svc, err := c.Service()
	if err != nil {
		return nil
	}
	f := NewFacts(c.File)
	sp := "services." + name
	line := func(sub string) int {
		if sub == "" {
			return c.Line(sp)
		}
		return c.Line(sp + "." + sub)
	}
	v := func(view, sub, val string) Value {
		return Value{V: val, View: view, File: c.File, Line: line(sub)}
	}
	item := func(view, sub, key, val string) Value {
		return Value{Key: key, V: val, View: view, File: c.File, Line: line(sub)}
	}
	if svc.User != "" {
		u, g, hasG := strings.Cut(svc.User, ":")
		f.Add(FieldUID, v("compose user", "user", u))
		if hasG {
			f.Add(FieldGID, v("compose user", "user", g))
		}
	}
	f.Express(FieldPorts, "compose ports", c.File, line("ports"))
	for i, p := range svc.Ports {
		f.Add(FieldPorts, item("compose ports", fmt.Sprintf("ports.%d", i), portKey(p.Target, p.Protocol), ""))
	}
	if h := svc.HealthCheck; h != nil && !HealthDisabled(h) {
		f.Add(FieldHealthTest, v("compose healthcheck test", "healthcheck.test", Argv(h.Test)))
		for _, t := range []struct {
			field Field
			key   string
			d     *types.Duration
		}{{FieldInterval, "interval", h.Interval}, {FieldTimeout, "timeout", h.Timeout}, {FieldStartPeriod, "start_period", h.StartPeriod}} {
			if t.d != nil {
				f.Add(t.field, v("compose healthcheck "+t.key, "healthcheck."+t.key, Seconds(time.Duration(*t.d))))
			}
		}
		if h.Retries != nil {
			f.Add(FieldRetries, v("compose healthcheck retries", "healthcheck.retries", strconv.FormatUint(*h.Retries, 10)))
		}
	}
	c.envFacts(f, name, svc, line)
	f.Express(FieldCapabilities, "compose cap_add", c.File, line("cap_add"))
	for _, cp := range svc.CapAdd {
		f.Add(FieldCapabilities, item("compose cap_add", "cap_add", capName(cp), ""))
	}
	f.Add(FieldDropAll, v("compose cap_drop", "cap_drop", Dropped(svc.CapDrop)))
	f.Add(FieldPrivileged, v("compose privileged", "privileged", strconv.FormatBool(svc.Privileged)))
	fuse := v("compose devices /dev/fuse", "devices", "false")
	f.Express(FieldDevices, "compose devices", c.File, line("devices"))
	for i, d := range svc.Devices {
		f.Add(FieldDevices, item("compose devices", fmt.Sprintf("devices.%d", i), d.Source, ""))
		if d.Source == "/dev/fuse" || d.Target == "/dev/fuse" {
			fuse.V = "true"
		}
	}
	f.Add(FieldFUSE, fuse)
	f.Add(FieldReadOnlyRoot, v("compose read_only", "read_only", strconv.FormatBool(svc.ReadOnly)))
	f.Express(FieldVolumes, "compose volumes", c.File, line("volumes"))
	for i, vol := range svc.Volumes {
		kind := vol.Type
		switch kind {
		case types.VolumeTypeVolume:
			kind = "persistent"
		case types.VolumeTypeTmpfs:
			kind = "tmpfs"
		}
		f.Add(FieldVolumes, item("compose volumes", fmt.Sprintf("volumes.%d", i), path.Clean(vol.Target), kind))
	}
	for i, t := range svc.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		f.Add(FieldVolumes, item("compose volumes", fmt.Sprintf("tmpfs.%d", i), path.Clean(target), "tmpfs"))
	}
	if svc.Image != "" {
		f.Add(FieldImage, v("compose image", "image", svc.Image))
	}
	if svc.StopGracePeriod != nil {
		f.Add(FieldStopGrace, v("compose stop_grace_period", "stop_grace_period", Seconds(time.Duration(*svc.StopGracePeriod))))
	}
	if svc.Restart != "" {
		f.Add(FieldRestart, v("compose restart", "restart", svc.Restart))
	}
	if svc.WorkingDir != "" {
		f.Add(FieldWorkdir, v("compose working_dir", "working_dir", svc.WorkingDir))
	}
	c.resourceFacts(f, svc, line)
	return f
}

// envFacts reads the service's variables: each name, a literal's value,
// and which ones the operator supplies (${NAME:?...}).
func (c *Compose) envFacts(f *Facts, name string, svc types.ServiceConfig, line func(string) int) {
	f.Express(FieldEnv, "compose environment", c.File, line("environment"))
	f.Express(FieldEnvValues, "compose environment", c.File, line("environment"))
	f.Express(FieldEnvExternal, "compose ${NAME:?...} variables", c.File, line("environment"))
	for _, n := range slices.Sorted(maps.Keys(svc.Environment)) {
		val := svc.Environment[n]
		l := line("environment." + n)
		f.Add(FieldEnv, Value{Key: n, View: "compose environment", File: c.File, Line: l})
		raw, _ := c.RawEnv(name, n)
		switch {
		case isInterpolation(raw) && !hasLiteralDefault(raw):
			f.Add(FieldEnvExternal, Value{Key: n, View: "compose ${NAME:?...} variables", File: c.File, Line: l})
		case val != nil:
			f.Add(FieldEnvValues, Value{Key: n, V: *val, View: "compose environment", File: c.File, Line: l})
		}
	}
}

// resourceFacts reads deploy.resources as canonical amounts: CPU in
// millicores, memory in bytes.
func (c *Compose) resourceFacts(f *Facts, svc types.ServiceConfig, line func(string) int) {
	item := func(key, val string) Value {
		return Value{Key: key, V: val, View: "compose deploy.resources", File: c.File, Line: line("deploy.resources")}
	}
	f.Express(FieldResources, "compose deploy.resources", c.File, line("deploy"))
	if d := svc.Deploy; d != nil {
		for _, r := range []struct {
			kind string
			res  *types.Resource
		}{{"limit", d.Resources.Limits}, {"request", d.Resources.Reservations}} {
			if r.res == nil {
				continue
			}
			if r.res.NanoCPUs != 0 {
				m := int64(float64(r.res.NanoCPUs)*1000 + 0.5)
				f.Add(FieldResources, item("cpu."+r.kind, strconv.FormatInt(m, 10)+"m"))
			}
			if r.res.MemoryBytes != 0 {
				f.Add(FieldResources, item("memory."+r.kind, strconv.FormatInt(int64(r.res.MemoryBytes), 10)))
			}
		}
	}
}

// Dropped says what a cap_drop list drops: ALL, or the capabilities.
func Dropped(caps []string) string {
	var out []string
	for _, c := range caps {
		if capName(c) == "ALL" {
			return "ALL"
		}
		out = append(out, capName(c))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ",")
}

// workload is the manifest's StatefulSet (or Deployment) and its one
// container, with the paths findings point at.
type workload struct {
	doc   KubeDoc
	pod   *corev1.PodSpec
	ctr   *corev1.Container
	cPath string
	pvcs  map[string]bool
}

// Workload finds the first StatefulSet or Deployment; ok is false when
// there is none or it does not run exactly one container.
func (k *Kube) workload() (workload, bool) {
	for _, d := range k.Docs {
		w := workload{doc: d, cPath: "spec.template.spec.containers.0", pvcs: map[string]bool{}}
		switch o := d.Object.(type) {
		case *appsv1.StatefulSet:
			w.pod = &o.Spec.Template.Spec
			for _, t := range o.Spec.VolumeClaimTemplates {
				w.pvcs[t.Name] = true
			}
		case *appsv1.Deployment:
			w.pod = &o.Spec.Template.Spec
		default:
			continue
		}
		if len(w.pod.Containers) != 1 {
			return w, false
		}
		w.ctr = &w.pod.Containers[0]
		return w, true
	}
	return workload{}, false
}

func (w workload) line(sub string) int {
	if sub == "" {
		return w.doc.Line(w.cPath)
	}
	return w.doc.Line(w.cPath + "." + sub)
}

// resolve turns a port that may be named into the container's number.
func (w workload) resolve(p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, cp := range w.ctr.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// Facts reads what the manifest says: the workload's one container, the
// Services and NetworkPolicies in front of it, the ConfigMaps it reads.
// nil when there is no workload with one container (a parse finding says
// so).
func (k *Kube) Facts() *Facts {
	w, ok := k.workload()
	if !ok {
		return nil
	}
	f := NewFacts(k.File)
	c := w.ctr
	v := func(view, sub, val string) Value {
		return Value{V: val, View: view, File: k.File, Line: w.line(sub)}
	}
	item := func(view string, line int, key, val string) Value {
		return Value{Key: key, V: val, View: view, File: k.File, Line: line}
	}
	k.userFacts(f, w)
	f.Express(FieldPorts, "containerPort", k.File, w.line("ports"))
	for i, p := range c.Ports {
		f.Add(FieldPorts, item("containerPort", w.line(fmt.Sprintf("ports.%d", i)), portKey(p.ContainerPort, string(p.Protocol)), ""))
	}
	k.frontFacts(f, w)
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  Field
	}{{"livenessProbe", c.LivenessProbe, FieldLiveness}, {"readinessProbe", c.ReadinessProbe, FieldReadiness}, {"startupProbe", c.StartupProbe, FieldLiveness}} {
		p := pr.probe
		if p == nil {
			continue
		}
		if h := p.HTTPGet; h != nil {
			f.Add(pr.path, v(pr.name+" path", pr.name+".httpGet.path", h.Path))
			if n, ok := w.resolve(h.Port); ok {
				f.Add(FieldHealthPort, v(pr.name+" port", pr.name+".httpGet.port", strconv.Itoa(int(n))))
			} else {
				f.Problems = append(f.Problems, Finding{File: k.File, Line: w.line(pr.name + ".httpGet.port"), Rule: RuleHealth, Message: fmt.Sprintf("%s probes port %q, which the container does not declare (%s)", pr.name, h.Port.String(), at(k.File, w.line("ports")))})
			}
		}
		if pr.name == "startupProbe" {
			continue // it covers the start period, not the interval (see health)
		}
		f.Add(FieldInterval, v(pr.name+" periodSeconds", pr.name+".periodSeconds", WholeSeconds(int64(p.PeriodSeconds))))
		f.Add(FieldTimeout, v(pr.name+" timeoutSeconds", pr.name+".timeoutSeconds", WholeSeconds(int64(p.TimeoutSeconds))))
		f.Add(FieldRetries, v(pr.name+" failureThreshold", pr.name+".failureThreshold", strconv.Itoa(int(p.FailureThreshold))))
	}
	k.envFacts(f, w)
	f.Express(FieldCapabilities, "capabilities.add", k.File, w.line("securityContext.capabilities.add"))
	var drop []string
	privileged, readOnly := false, false
	if sc := c.SecurityContext; sc != nil {
		if sc.Capabilities != nil {
			for _, cp := range sc.Capabilities.Add {
				f.Add(FieldCapabilities, item("capabilities.add", w.line("securityContext.capabilities.add"), capName(string(cp)), ""))
			}
			for _, cp := range sc.Capabilities.Drop {
				drop = append(drop, string(cp))
			}
		}
		privileged = sc.Privileged != nil && *sc.Privileged
		readOnly = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	}
	f.Add(FieldDropAll, v("capabilities.drop", "securityContext.capabilities.drop", Dropped(drop)))
	f.Add(FieldPrivileged, v("securityContext.privileged", "securityContext.privileged", strconv.FormatBool(privileged)))
	fuse := privileged
	for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		for n := range rl {
			fuse = fuse || fuseResource(n)
		}
	}
	f.Add(FieldFUSE, v("Kubernetes FUSE device (a */fuse resource or privileged)", "resources", strconv.FormatBool(fuse)))
	f.Add(FieldReadOnlyRoot, v("readOnlyRootFilesystem", "securityContext.readOnlyRootFilesystem", strconv.FormatBool(readOnly)))
	k.volumeFacts(f, w)
	if c.WorkingDir != "" {
		f.Add(FieldWorkdir, v("workingDir", "workingDir", c.WorkingDir))
	}
	f.Add(FieldImage, v("container image", "image", c.Image))
	if sts, ok := w.doc.Object.(*appsv1.StatefulSet); ok && sts.Spec.Replicas != nil {
		f.Add(FieldReplicas, Value{V: strconv.Itoa(int(*sts.Spec.Replicas)), View: "replicas", File: k.File, Line: w.doc.Line("spec.replicas")})
	}
	if g := w.pod.TerminationGracePeriodSeconds; g != nil {
		f.Add(FieldStopGrace, Value{V: WholeSeconds(*g), View: "terminationGracePeriodSeconds", File: k.File, Line: w.doc.Line("spec.template.spec.terminationGracePeriodSeconds")})
	}
	f.Express(FieldResources, "container resources", k.File, w.line("resources"))
	for _, r := range []struct {
		kind string
		list corev1.ResourceList
	}{{"limit", c.Resources.Limits}, {"request", c.Resources.Requests}} {
		if q, ok := r.list[corev1.ResourceCPU]; ok {
			f.Add(FieldResources, item("container resources", w.line("resources"), "cpu."+r.kind, CPU(q)))
		}
		if q, ok := r.list[corev1.ResourceMemory]; ok {
			f.Add(FieldResources, item("container resources", w.line("resources"), "memory."+r.kind, Memory(q)))
		}
	}
	return f
}

// userFacts reads the user the container runs as: the container's
// security context over the pod's.
func (k *Kube) userFacts(f *Facts, w workload) {
	var uid, gid *int64
	uidPath, gidPath := "", ""
	if psc := w.pod.SecurityContext; psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
		uidPath, gidPath = "spec.template.spec.securityContext.runAsUser", "spec.template.spec.securityContext.runAsGroup"
	}
	if csc := w.ctr.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			uid, uidPath = csc.RunAsUser, w.cPath+".securityContext.runAsUser"
		}
		if csc.RunAsGroup != nil {
			gid, gidPath = csc.RunAsGroup, w.cPath+".securityContext.runAsGroup"
		}
	}
	if uid != nil {
		f.Add(FieldUID, Value{V: strconv.FormatInt(*uid, 10), View: "runAsUser", File: k.File, Line: w.doc.Line(uidPath)})
	}
	if gid != nil {
		f.Add(FieldGID, Value{V: strconv.FormatInt(*gid, 10), View: "runAsGroup", File: k.File, Line: w.doc.Line(gidPath)})
	}
}

// frontFacts reads the ports the Services and NetworkPolicies lead to, as
// container port numbers.
func (k *Kube) frontFacts(f *Facts, w workload) {
	for _, doc := range k.Docs {
		switch o := doc.Object.(type) {
		case *corev1.Service:
			view := "Service " + o.Name + " targetPort"
			f.Express(FieldPorts, view, k.File, doc.Line("spec.ports"))
			for i, p := range o.Spec.Ports {
				tp := p.TargetPort
				if tp.Type == intstr.Int && tp.IntVal == 0 {
					tp = intstr.FromInt32(p.Port) // targetPort defaults to port
				}
				n, ok := w.resolve(tp)
				if !ok {
					f.Problems = append(f.Problems, Finding{File: k.File, Line: doc.Line(fmt.Sprintf("spec.ports.%d.targetPort", i)), Rule: RulePorts, Message: fmt.Sprintf("Service %s targetPort %q names no container port (%s)", o.Name, tp.String(), at(k.File, w.line("ports")))})
					continue
				}
				f.Add(FieldPorts, Value{Key: portKey(n, string(p.Protocol)), View: view, File: k.File, Line: doc.Line(fmt.Sprintf("spec.ports.%d", i))})
			}
		case *networkingv1.NetworkPolicy:
			view := "NetworkPolicy " + o.Name + " ingress ports"
			for i, r := range o.Spec.Ingress {
				for j, p := range r.Ports {
					if p.Port == nil {
						continue
					}
					pp := fmt.Sprintf("spec.ingress.%d.ports.%d", i, j)
					n, ok := w.resolve(*p.Port)
					if !ok {
						f.Problems = append(f.Problems, Finding{File: k.File, Line: doc.Line(pp), Rule: RulePorts, Message: fmt.Sprintf("NetworkPolicy %s port %q names no container port (%s)", o.Name, p.Port.String(), at(k.File, w.line("ports")))})
						continue
					}
					proto := "TCP"
					if p.Protocol != nil {
						proto = string(*p.Protocol)
					}
					f.Add(FieldPorts, Value{Key: portKey(n, proto), View: view, File: k.File, Line: doc.Line(pp)})
				}
			}
		}
	}
}

// envFacts reads the container's variables: env entries (literal, from
// a ConfigMap of this manifest, or from a Secret) and every key of a
// ConfigMap it takes whole with envFrom.
func (k *Kube) envFacts(f *Facts, w workload) {
	const view, ext = "Kubernetes env", "Kubernetes secretKeyRef variables"
	f.Express(FieldEnv, view, k.File, w.line("env"))
	f.Express(FieldEnvValues, view, k.File, w.line("env"))
	f.Express(FieldEnvExternal, ext, k.File, w.line("env"))
	for i, ef := range w.ctr.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		l := w.line(fmt.Sprintf("envFrom.%d", i))
		cm, doc, ok := k.ConfigMap(ef.ConfigMapRef.Name)
		if !ok {
			f.Problems = append(f.Problems, Finding{File: k.File, Line: l, Rule: RuleEnv, Message: fmt.Sprintf("envFrom names ConfigMap %s, which this manifest does not define", ef.ConfigMapRef.Name)})
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(cm.Data)) {
			val := cm.Data[key]
			f.Add(FieldEnv, Value{Key: ef.Prefix + key, View: view, File: k.File, Line: l})
			f.Add(FieldEnvValues, Value{Key: ef.Prefix + key, V: val, View: view, File: k.File, Line: doc.Line("data." + key)})
		}
	}
	for i, e := range w.ctr.Env {
		l := w.line(fmt.Sprintf("env.%d", i))
		f.Add(FieldEnv, Value{Key: e.Name, View: view, File: k.File, Line: l})
		switch vf := e.ValueFrom; {
		case vf == nil:
			f.Add(FieldEnvValues, Value{Key: e.Name, V: e.Value, View: view, File: k.File, Line: l})
		case vf.SecretKeyRef != nil:
			f.Add(FieldEnvExternal, Value{Key: e.Name, View: ext, File: k.File, Line: l})
		case vf.ConfigMapKeyRef != nil:
			cm, doc, ok := k.ConfigMap(vf.ConfigMapKeyRef.Name)
			switch {
			case !ok:
				f.Problems = append(f.Problems, Finding{File: k.File, Line: l, Rule: RuleEnv, Message: fmt.Sprintf("%s takes ConfigMap %s, which this manifest does not define", e.Name, vf.ConfigMapKeyRef.Name)})
			default:
				if val, ok := cm.Data[vf.ConfigMapKeyRef.Key]; !ok {
					f.Problems = append(f.Problems, Finding{File: k.File, Line: l, Rule: RuleEnv, Message: fmt.Sprintf("%s takes key %s, which ConfigMap %s lacks", e.Name, vf.ConfigMapKeyRef.Key, cm.Name)})
				} else {
					f.Add(FieldEnvValues, Value{Key: e.Name, V: val, View: view, File: k.File, Line: doc.Line("data." + vf.ConfigMapKeyRef.Key)})
				}
			}
		}
	}
}

// volumeFacts reads the container's writable mounts by path: a claim
// template or PersistentVolumeClaim is persistent, an emptyDir a tmpfs, a
// hostPath a bind; configuration mounts (ConfigMap, Secret, projected)
// are not writable mounts and left out.
func (k *Kube) volumeFacts(f *Facts, w workload) {
	podVols := map[string]corev1.Volume{}
	for _, pv := range w.pod.Volumes {
		podVols[pv.Name] = pv
	}
	f.Express(FieldVolumes, "volumeMounts", k.File, w.line("volumeMounts"))
	for i, vm := range w.ctr.VolumeMounts {
		l := w.line(fmt.Sprintf("volumeMounts.%d", i))
		kind := ""
		if pv, ok := podVols[vm.Name]; ok {
			switch {
			case pv.EmptyDir != nil:
				kind = "tmpfs"
			case pv.PersistentVolumeClaim != nil:
				kind = "persistent"
			case pv.ConfigMap != nil, pv.Secret != nil, pv.Projected != nil, pv.DownwardAPI != nil:
				continue
			case pv.HostPath != nil:
				kind = "bind"
			default:
				kind = "other"
			}
		} else if w.pvcs[vm.Name] {
			kind = "persistent"
		} else {
			f.Problems = append(f.Problems, Finding{File: k.File, Line: l, Rule: RuleVolumes, Message: fmt.Sprintf("volumeMount %s names no pod volume and no volumeClaimTemplate", vm.Name)})
			continue
		}
		f.Add(FieldVolumes, Value{Key: path.Clean(vm.MountPath), V: kind, View: "volumeMounts", File: k.File, Line: l})
	}
}

// scriptAssigns collects the environment variables a script gives the
// service (NAME in upper case, as environment variables are): a plain
// NAME=v, export NAME=v (a command in POSIX sh), and NAME=v before the
// exec; outside functions and subshells; values as literal text where
// they are literal.
func scriptAssigns(f *syntax.File) []Assign {
	var out []Assign
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl, *syntax.Subshell, *syntax.CmdSubst, *syntax.ProcSubst:
			return false
		case *syntax.CallExpr:
			name := ""
			if len(n.Args) > 0 {
				name = wordString(n.Args[0])
			}
			if name == "" || name == "exec" {
				for _, a := range n.Assigns {
					out = appendAssign(out, a)
				}
			}
			if name == "export" || name == "readonly" {
				for _, w := range n.Args[1:] {
					k, v, ok := strings.Cut(wordString(w), "=")
					if ok && envNameRE.MatchString(k) {
						out = append(out, Assign{Name: k, Value: v, Line: int(w.Pos().Line())})
					}
				}
			}
		case *syntax.DeclClause: // bash's form, should a script be read as bash
			if n.Variant != nil && n.Variant.Value == "export" {
				for _, a := range n.Args {
					out = appendAssign(out, a)
				}
			}
		}
		return true
	})
	return out
}

func appendAssign(out []Assign, a *syntax.Assign) []Assign {
	if a.Name == nil || !envNameRE.MatchString(a.Name.Value) {
		return out
	}
	val := ""
	if a.Value != nil {
		val = wordString(a.Value)
	}
	return append(out, Assign{Name: a.Name.Value, Value: val, Line: int(a.Pos().Line())})
}
