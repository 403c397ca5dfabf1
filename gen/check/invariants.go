package check

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// view is the parsed artifacts narrowed to the one service and one container
// the conventions promise, with the paths findings point at.
type view struct {
	d  *Dockerfile
	s  *Script
	c  *Compose
	k  *Kube
	fs []Finding

	svcName string
	svc     types.ServiceConfig
	svcPath string // "services.<name>"

	work  KubeDoc // the StatefulSet (or Deployment)
	pod   *corev1.PodSpec
	pvcs  map[string]bool // volumeClaimTemplates names
	ctr   *corev1.Container
	cPath string // "spec.template.spec.containers.0"
}

func (v *view) add(file string, line int, rule, format string, args ...any) {
	v.fs = append(v.fs, Finding{File: file, Line: line, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// readOnlyRoot adds a volumes finding of KindReadOnlyRoot.
func (v *view) readOnlyRoot(file string, line int, format string, args ...any) {
	v.fs = append(v.fs, Finding{File: file, Line: line, Rule: RuleVolumes, Message: fmt.Sprintf(format, args...), Kind: KindReadOnlyRoot})
}

// Invariants holds the parsed artifacts against each other: process, user,
// ports, health, privileges, env, secrets and volumes. Every field must be set
// (Parse without findings guarantees it).
func (p *Parsed) Invariants() []Finding {
	v := &view{d: p.Dockerfile, s: p.Script, c: p.Compose, k: p.Kube}
	name, svc, err := v.c.Service()
	if err != nil {
		return []Finding{{File: FileCompose, Line: v.c.Line("services"), Rule: RuleParse, Message: err.Error()}}
	}
	v.svcName, v.svc, v.svcPath = name, svc, "services."+name
	if !v.workload() {
		return v.fs
	}
	v.process()
	v.user()
	v.health()
	v.privileges()
	v.env()
	v.secrets()
	v.volumes()
	v.selectors()
	// Every field the artifacts state in common, held equal: one
	// extractor per artifact, one comparison per field.
	v.fs = append(v.fs, CrossCheck(v.d.Facts(), v.c.Facts(), v.k.Facts(), v.s.Facts())...)
	return SortFindings(v.fs)
}

// workload finds the StatefulSet (or Deployment) and its single container.
func (v *view) workload() bool {
	for _, d := range v.k.Docs {
		switch o := d.Object.(type) {
		case *appsv1.StatefulSet:
			v.work, v.pod = d, &o.Spec.Template.Spec
			v.pvcs = map[string]bool{}
			for _, t := range o.Spec.VolumeClaimTemplates {
				v.pvcs[t.Name] = true
			}
		case *appsv1.Deployment:
			v.work, v.pod = d, &o.Spec.Template.Spec
		}
		if v.pod != nil {
			break
		}
	}
	if v.pod == nil {
		v.add(FileKube, 1, RuleParse, "no StatefulSet or Deployment: nothing runs the image")
		return false
	}
	if len(v.pod.Containers) != 1 {
		v.add(FileKube, v.work.Line("spec.template.spec.containers"), RuleParse,
			"want exactly one container, found %d", len(v.pod.Containers))
		return false
	}
	v.ctr, v.cPath = &v.pod.Containers[0], "spec.template.spec.containers.0"
	return true
}

func (v *view) cline(sub string) int {
	if sub == "" {
		return v.work.Line(v.cPath)
	}
	return v.work.Line(v.cPath + "." + sub)
}

func (v *view) sline(sub string) int {
	if sub == "" {
		return v.c.Line(v.svcPath)
	}
	return v.c.Line(v.svcPath + "." + sub)
}

// process: ENTRYPOINT → the start script copied in the Dockerfile → its final
// exec of a binary that is in the image; nobody overrides it.
func (v *view) process() {
	d := v.d
	if d.CmdLine != 0 {
		v.add(FileDockerfile, d.CmdLine, RuleProcess, "CMD is set: the start script's exec alone decides the process")
	}
	switch {
	case d.Entrypoint == nil:
		v.add(FileDockerfile, 1, RuleProcess, "no ENTRYPOINT: the image does not run the start script")
	case !d.EntrypointExec:
		v.add(FileDockerfile, d.EntrypointLine, RuleProcess, "ENTRYPOINT is in shell form: a shell, not the start script, becomes PID 1")
	case len(d.Entrypoint) != 1:
		v.add(FileDockerfile, d.EntrypointLine, RuleProcess, "ENTRYPOINT %q passes arguments: it must run the start script alone", d.Entrypoint)
	default:
		ep := d.Entrypoint[0]
		cp, ok := d.CopiedTo(ep)
		switch {
		case !ok:
			v.add(FileDockerfile, d.EntrypointLine, RuleProcess, "ENTRYPOINT runs %s, which no COPY of the final stage puts in the image", ep)
		case cp.From != "" || len(cp.Sources) != 1 || path.Base(cp.Sources[0]) != FileScript:
			v.add(FileDockerfile, cp.Line, RuleProcess, "ENTRYPOINT %s (line %d) is copied from %s, not from %s", ep, d.EntrypointLine, strings.Join(cp.Sources, " "), FileScript)
		}
	}
	if v.s.Exec == nil {
		v.add(FileScript, v.s.LastLine, RuleProcess, "the last command is not `exec <entry binary>`: the entry would not replace the shell as PID 1")
	} else if bin := v.s.Exec[0]; bin != "" {
		if _, ok := d.CopiedTo(bin); !ok {
			v.add(FileScript, v.s.ExecLine, RuleProcess, "exec runs %s, which no COPY in %s puts in the image", bin, FileDockerfile)
		}
	}
	if len(v.svc.Entrypoint) > 0 {
		v.add(FileCompose, v.sline("entrypoint"), RuleProcess, "entrypoint overrides the image's ENTRYPOINT (%s)", at(FileDockerfile, d.EntrypointLine))
	}
	if len(v.svc.Command) > 0 {
		v.add(FileCompose, v.sline("command"), RuleProcess, "command is set: it would become arguments of the start script (%s)", at(FileDockerfile, d.EntrypointLine))
	}
	if len(v.ctr.Command) > 0 {
		v.add(FileKube, v.cline("command"), RuleProcess, "command overrides the image's ENTRYPOINT (%s)", at(FileDockerfile, d.EntrypointLine))
	}
	if len(v.ctr.Args) > 0 {
		v.add(FileKube, v.cline("args"), RuleProcess, "args is set: it would become arguments of the start script (%s)", at(FileDockerfile, d.EntrypointLine))
	}
}

// parseUser reads "uid[:gid]" with numeric ids.
func parseUser(s string) (uid, gid int64, hasGID, ok bool) {
	u, g, hasGID := strings.Cut(s, ":")
	uid, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		return 0, 0, false, false
	}
	if hasGID {
		if gid, err = strconv.ParseInt(g, 10, 64); err != nil {
			return 0, 0, false, false
		}
	}
	return uid, gid, hasGID, true
}

// user: the image names its user by number, Kubernetes states it (runAsUser)
// and does not ask a root uid to be non-root. That the uid and gid are the
// same everywhere is the uid and gid fields' comparison.
func (v *view) user() {
	d := v.d
	if d.UserLine == 0 {
		v.add(FileDockerfile, 1, RuleUser, "no USER: the image's user is whatever the base image says")
		return
	}
	uid, _, _, ok := parseUser(d.User)
	if !ok {
		v.add(FileDockerfile, d.UserLine, RuleUser, "USER %q is not numeric uid:gid: Kubernetes cannot check runAsNonRoot against a name", d.User)
		return
	}
	dAt := at(FileDockerfile, d.UserLine)
	if v.svc.User != "" {
		if _, _, _, ok := parseUser(v.svc.User); !ok {
			v.add(FileCompose, v.sline("user"), RuleUser, "user %q is not numeric uid:gid", v.svc.User)
		}
	}
	var runAsUser *int64
	var nonRoot *bool
	nonRootPath := ""
	if psc := v.pod.SecurityContext; psc != nil {
		runAsUser, nonRoot, nonRootPath = psc.RunAsUser, psc.RunAsNonRoot, "spec.template.spec.securityContext.runAsNonRoot"
	}
	if csc := v.ctr.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			runAsUser = csc.RunAsUser
		}
		if csc.RunAsNonRoot != nil {
			nonRoot, nonRootPath = csc.RunAsNonRoot, v.cPath+".securityContext.runAsNonRoot"
		}
	}
	if runAsUser == nil {
		v.add(FileKube, v.cline("securityContext"), RuleUser, "runAsUser is not set; the Dockerfile's USER %s (%s) must be stated", d.User, dAt)
	}
	if nonRoot != nil && *nonRoot && uid == 0 {
		v.add(FileKube, v.work.Line(nonRootPath), RuleUser, "runAsNonRoot is true but the uid is 0 (%s): the kubelet would refuse to start the container", dAt)
	}
}

// portKey is "port/proto" in lower case, the Dockerfile's EXPOSE notation.
func portKey[N int32 | uint32](port N, proto string) string {
	if proto == "" {
		proto = "tcp"
	}
	return fmt.Sprintf("%d/%s", port, strings.ToLower(proto))
}

// health: the image has an exec-form health check running the entry
// binary, compose has one, Kubernetes has the three probes on a declared
// port, and the startup probe covers the start period. That the test and
// the timings are the same everywhere is their fields' comparison.
func (v *view) health() {
	h := v.d.Health
	if h == nil {
		v.add(FileDockerfile, 1, RuleHealth, "no HEALTHCHECK: docker cannot tell a hung service from a healthy one")
		return
	}
	hAt := at(FileDockerfile, h.Line)
	if len(h.Test) > 0 && h.Test[0] == "NONE" {
		v.add(FileDockerfile, h.Line, RuleHealth, "HEALTHCHECK NONE: docker cannot tell a hung service from a healthy one")
	} else if len(h.Test) < 2 || h.Test[0] != "CMD" {
		v.add(FileDockerfile, h.Line, RuleHealth, "HEALTHCHECK is not in exec form (CMD [...]): it would need a shell in the image")
	} else if v.s.Exec != nil && h.Test[1] != v.s.Exec[0] {
		v.add(FileDockerfile, h.Line, RuleHealth, "HEALTHCHECK runs %s, not the entry binary %s that the start script execs (%s)", h.Test[1], v.s.Exec[0], at(FileScript, v.s.ExecLine))
	}
	if ch := v.svc.HealthCheck; ch == nil || HealthDisabled(ch) {
		v.add(FileCompose, v.sline(""), RuleHealth, "no healthcheck, but the Dockerfile has one (%s)", hAt)
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", v.ctr.LivenessProbe}, {"readinessProbe", v.ctr.ReadinessProbe}, {"startupProbe", v.ctr.StartupProbe}} {
		p := pr.probe
		if p == nil {
			v.add(FileKube, v.cline(pr.name), RuleHealth, "no %s, but the Dockerfile has a HEALTHCHECK (%s)", pr.name, hAt)
			continue
		}
		if p.TCPSocket != nil {
			if _, ok := v.resolvePort(p.TCPSocket.Port); !ok {
				v.add(FileKube, v.cline(pr.name+".tcpSocket.port"), RuleHealth, "%s probes port %q, which the container does not declare (%s)", pr.name, p.TCPSocket.Port.String(), at(FileKube, v.cline("ports")))
			}
		}
		if pr.name == "startupProbe" {
			// In whole seconds (the start period rounded up), as int64:
			// the product of two int32 fields overflows an int32, and a
			// time.Duration once it is more than 292 years.
			if covered := int64(p.PeriodSeconds) * int64(p.FailureThreshold); covered < int64((h.StartPeriod+time.Second-1)/time.Second) {
				v.add(FileKube, v.cline(pr.name), RuleHealth, "startupProbe covers %ds (periodSeconds × failureThreshold), less than the start period %s (%s)", covered, h.StartPeriod, hAt)
			}
		}
	}
}

// resolvePort turns a port that may be named into a container port number.
func (v *view) resolvePort(p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, cp := range v.ctr.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// capName normalises "CAP_SYS_ADMIN" and "sys_admin" to "SYS_ADMIN".
func capName(s string) string {
	return strings.TrimPrefix(strings.ToUpper(s), "CAP_")
}

// fuseResource reports whether a resource name is a FUSE device-plugin
// resource (e.g. "smarter-devices/fuse", "github.com/fuse").
func fuseResource(name corev1.ResourceName) bool {
	return strings.HasSuffix(string(name), "/fuse")
}

// privileges: both compose and Kubernetes drop ALL capabilities before
// adding any. That they add the same ones, agree on privileged and pass
// the FUSE device exactly when the start script checks for it are their
// fields' comparison.
func (v *view) privileges() {
	if !slices.ContainsFunc(v.svc.CapDrop, func(c string) bool { return capName(c) == "ALL" }) {
		v.add(FileCompose, v.sline("cap_drop"), RulePrivileges, "cap_drop does not drop ALL")
	}
	var kDrop []string
	if sc := v.ctr.SecurityContext; sc != nil && sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Drop {
			kDrop = append(kDrop, capName(string(c)))
		}
	}
	if !slices.Contains(kDrop, "ALL") {
		v.add(FileKube, v.cline("securityContext.capabilities"), RulePrivileges, "capabilities.drop does not drop ALL")
	}
}

// kubeEnv is one variable the Kubernetes container receives.
type kubeEnv struct {
	line      int
	value     string // literal value or the ConfigMap's value
	literal   bool   // value written in the container spec itself
	secretRef bool
}

// kubeEnvs collects the container's variables: env entries and every key of a
// ConfigMap it takes with envFrom, resolved against the ConfigMap in the file.
func (v *view) kubeEnvs() map[string]kubeEnv {
	out := map[string]kubeEnv{}
	for i, ef := range v.ctr.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		cm, _, ok := v.k.ConfigMap(ef.ConfigMapRef.Name)
		l := v.cline(fmt.Sprintf("envFrom.%d", i))
		if !ok {
			continue // the Kubernetes facts report it
		}
		for k, val := range cm.Data {
			out[ef.Prefix+k] = kubeEnv{line: l, value: val}
		}
	}
	for i, e := range v.ctr.Env {
		l := v.cline(fmt.Sprintf("env.%d", i))
		ke := kubeEnv{line: l, value: e.Value, literal: e.ValueFrom == nil}
		if vf := e.ValueFrom; vf != nil {
			switch {
			case vf.SecretKeyRef != nil:
				ke.secretRef = true
			case vf.ConfigMapKeyRef != nil:
				// A ConfigMap or key missing is the Kubernetes facts' problem.
				if cm, _, ok := v.k.ConfigMap(vf.ConfigMapKeyRef.Name); ok {
					ke.value = cm.Data[vf.ConfigMapKeyRef.Key]
				}
			}
		}
		out[e.Name] = ke
	}
	return out
}

// env: compose and Kubernetes both give every variable the start script
// requires. That they give the same variables with the same values is
// the env fields' comparison.
func (v *view) env() {
	kube := v.kubeEnvs()
	compose := v.svc.Environment
	el, kl := v.sline("environment"), v.cline("env")
	for _, n := range slices.Sorted(maps.Keys(v.s.Required)) {
		l := v.s.Required[n]
		if _, ok := compose[n]; !ok {
			v.add(FileScript, l, RuleEnv, "requires %s, which compose does not set (%s)", n, at(FileCompose, el))
		}
		if _, ok := kube[n]; !ok {
			v.add(FileScript, l, RuleEnv, "requires %s, which Kubernetes does not set (%s)", n, at(FileKube, kl))
		}
	}
}

// secretName matches variable names whose values are secrets.
var secretName = regexp.MustCompile(`(?i)(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)`)

// secretValue matches well-known secret formats wherever they appear.
var secretValue = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bsk-[A-Za-z0-9]{32,}`)

// secrets: a variable Kubernetes takes from a Secret is interpolated in
// compose, and no secret value is written in any artifact.
func (v *view) secrets() {
	kube := v.kubeEnvs()
	for _, n := range slices.Sorted(maps.Keys(kube)) {
		e := kube[n]
		raw, ok := v.c.RawEnv(v.svcName, n)
		switch {
		case e.secretRef && ok && !isInterpolation(raw):
			v.add(FileCompose, v.sline("environment."+n), RuleSecrets, "%s is a literal in compose but a secretKeyRef in Kubernetes (%s): take it from the environment with ${%s:?...}", n, at(FileKube, e.line), n)
		case e.secretRef && ok && hasLiteralDefault(raw):
			v.add(FileCompose, v.sline("environment."+n), RuleSecrets, "%s falls back to a literal default in compose but is a secretKeyRef in Kubernetes (%s): use ${%s:?...}", n, at(FileKube, e.line), n)
		}
		if !e.secretRef && secretName.MatchString(n) && e.value != "" {
			v.add(FileKube, e.line, RuleSecrets, "%s looks like a secret but its value is written in the manifest: use a secretKeyRef", n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(v.svc.Environment)) {
		raw, _ := v.c.RawEnv(v.svcName, n)
		if _, inKube := kube[n]; inKube && kube[n].secretRef {
			continue // reported above
		}
		if secretName.MatchString(n) && raw != "" && !isInterpolation(raw) {
			v.add(FileCompose, v.sline("environment."+n), RuleSecrets, "%s looks like a secret but its value is a literal: interpolate it with ${%s:?...}", n, n)
		}
	}
	for _, kv := range append(slices.Clone(v.d.Env), v.d.Args...) {
		if secretName.MatchString(kv.Key) && kv.Value != "" {
			v.add(FileDockerfile, kv.Line, RuleSecrets, "%s looks like a secret and its value is baked into the image", kv.Key)
		}
	}
}

// secretMarks are literals one of which every match of secretValue
// contains; a line with none of them is not run through the expression,
// which spares almost every line of an artifact the regexp's backtracking.
var secretMarks = []string{"-----BEGIN ", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "sk-"}

// secretScan reports well-known secret formats in any artifact, by line.
func secretScan(file string, data []byte) []Finding {
	var fs []Finding
	for i, l := range strings.Split(string(data), "\n") {
		if !slices.ContainsFunc(secretMarks, func(mark string) bool { return strings.Contains(l, mark) }) {
			continue
		}
		if m := secretValue.FindString(l); m != "" {
			fs = append(fs, Finding{File: file, Line: i + 1, Rule: RuleSecrets, Message: "a secret value is written here (" + m[:min(len(m), 12)] + "…)"})
		}
	}
	return fs
}

// under reports whether p is mount or below it.
func under(p, mount string) bool {
	p, mount = path.Clean(p), path.Clean(mount)
	return p == mount || strings.HasPrefix(p, strings.TrimSuffix(mount, "/")+"/")
}

// volumes: a read-only root leaves every path the service writes
// writable (a volume, a tmpfs or the FUSE mount covers it). That compose
// and Kubernetes mount the same paths alike, both read-only or not, is the
// volumes fields' comparison.
func (v *view) volumes() {
	type mount struct {
		kind string // "volume" (persistent), "tmpfs" (memory), "bind", "config", "emptyDir"
		line int
	}
	cm := map[string]mount{}
	for i, vol := range v.svc.Volumes {
		cm[path.Clean(vol.Target)] = mount{vol.Type, v.sline(fmt.Sprintf("volumes.%d", i))}
	}
	for i, t := range v.svc.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		cm[path.Clean(target)] = mount{"tmpfs", v.sline(fmt.Sprintf("tmpfs.%d", i))}
	}
	podVols := map[string]corev1.Volume{}
	for _, pv := range v.pod.Volumes {
		podVols[pv.Name] = pv
	}
	km := map[string]mount{}
	for i, vm := range v.ctr.VolumeMounts {
		kind := "unknown"
		if pv, ok := podVols[vm.Name]; ok {
			switch {
			case pv.ConfigMap != nil, pv.Secret != nil, pv.Projected != nil, pv.DownwardAPI != nil:
				kind = "config"
			default:
				kind = "volume"
			}
		} else if v.pvcs[vm.Name] {
			kind = "volume"
		}
		if kind != "unknown" {
			km[path.Clean(vm.MountPath)] = mount{kind, v.cline(fmt.Sprintf("volumeMounts.%d", i))}
		}
	}
	kRO := v.ctr.SecurityContext != nil && v.ctr.SecurityContext.ReadOnlyRootFilesystem != nil && *v.ctr.SecurityContext.ReadOnlyRootFilesystem
	// A FUSE mount covers its mount point: the service mounts over it rather
	// than writing to the root, provided the device is passed in.
	fuseMount := ""
	if l, ok := v.d.Label(LabelFUSEMount); ok && slices.ContainsFunc(v.svc.Devices, func(d types.DeviceMapping) bool {
		return d.Source == "/dev/fuse" || d.Target == "/dev/fuse"
	}) {
		fuseMount = l.Value
	}
	covered := func(m map[string]mount, p string) bool {
		if fuseMount != "" && under(p, fuseMount) {
			return true
		}
		for t, mt := range m {
			if mt.kind != "config" && under(p, t) {
				return true
			}
		}
		return false
	}
	// Paths the service writes: env values that are absolute paths, and the
	// directories the start script creates.
	cEnv := map[string]string{}
	for n, val := range v.svc.Environment {
		if val != nil {
			cEnv[n] = *val
		}
	}
	if v.svc.ReadOnly {
		for _, n := range slices.Sorted(maps.Keys(cEnv)) {
			if p := cEnv[n]; strings.HasPrefix(p, "/") && !covered(cm, p) {
				v.readOnlyRoot(FileCompose, v.sline("environment."+n), "%s=%s is on the read-only root: no volume or tmpfs covers it", n, p)
			}
		}
	}
	kube := v.kubeEnvs()
	if kRO {
		for _, n := range slices.Sorted(maps.Keys(kube)) {
			if p := kube[n].value; strings.HasPrefix(p, "/") && !covered(km, p) {
				v.readOnlyRoot(FileKube, kube[n].line, "%s=%s is on the read-only root: no volumeMount covers it", n, p)
			}
		}
	}
	// The script's directories resolve per side: a "$VAR" word takes that
	// side's value of VAR.
	for _, md := range v.s.Mkdirs {
		cp, kp := md.Word, md.Word
		if name, ok := shellVar(md.Word); ok {
			cp, kp = cEnv[name], kube[name].value
		}
		if v.svc.ReadOnly && strings.HasPrefix(cp, "/") && !covered(cm, cp) {
			v.readOnlyRoot(FileScript, md.Line, "mkdir -p %s writes to compose's read-only root: no volume or tmpfs covers it (%s)", cp, at(FileCompose, v.sline("volumes")))
		}
		if kRO && strings.HasPrefix(kp, "/") && !covered(km, kp) {
			v.readOnlyRoot(FileScript, md.Line, "mkdir -p %s writes to Kubernetes' read-only root: no volumeMount covers it (%s)", kp, at(FileKube, v.cline("volumeMounts")))
		}
	}
}

// shellVarRE matches a word that is exactly one variable expansion.
var shellVarRE = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$`)

func shellVar(w string) (string, bool) {
	m := shellVarRE.FindStringSubmatch(w)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// selectors: the Service and the NetworkPolicy select the workload's pods, and
// a StatefulSet's serviceName is the Service of this manifest.
func (v *view) selectors() {
	var labels map[string]string
	labelsPath := "spec.template.metadata.labels"
	var serviceName string
	switch o := v.work.Object.(type) {
	case *appsv1.StatefulSet:
		labels, serviceName = o.Spec.Template.Labels, o.Spec.ServiceName
	case *appsv1.Deployment:
		labels = o.Spec.Template.Labels
	}
	lAt := at(FileKube, v.work.Line(labelsPath))
	matches := func(sel map[string]string) bool {
		for k, val := range sel {
			if labels[k] != val {
				return false
			}
		}
		return true
	}
	var services []string
	for _, doc := range v.k.Docs {
		switch o := doc.Object.(type) {
		case *corev1.Service:
			services = append(services, o.Name)
			if len(o.Spec.Selector) == 0 || !matches(o.Spec.Selector) {
				v.add(FileKube, doc.Line("spec.selector"), RuleSelectors, "Service %s selects %s, which the pod template's labels %s do not match (%s)", o.Name, labelString(o.Spec.Selector), labelString(labels), lAt)
			}
		case *networkingv1.NetworkPolicy:
			sel := o.Spec.PodSelector
			if len(sel.MatchExpressions) > 0 {
				v.add(FileKube, doc.Line("spec.podSelector"), RuleSelectors, "NetworkPolicy %s uses matchExpressions; only matchLabels can be checked", o.Name)
			} else if len(sel.MatchLabels) == 0 || !matches(sel.MatchLabels) {
				v.add(FileKube, doc.Line("spec.podSelector"), RuleSelectors, "NetworkPolicy %s selects %s, which the pod template's labels %s do not match (%s)", o.Name, labelString(sel.MatchLabels), labelString(labels), lAt)
			}
		}
	}
	if serviceName != "" && !slices.Contains(services, serviceName) {
		v.add(FileKube, v.work.Line("spec.serviceName"), RuleSelectors, "serviceName %s names no Service of this manifest (%s)", serviceName, strings.Join(services, ", "))
	}
}

// labelString prints labels as sorted k=v pairs, the kubectl selector syntax.
func labelString(m map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kv = append(kv, k+"="+m[k])
	}
	return "{" + strings.Join(kv, ",") + "}"
}
