package audit

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"mvdan.cc/sh/v3/syntax"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// specView holds one audit's state: the spec, the parsed artifacts (any
// may be nil) and the findings so far.
type specView struct {
	s   *spec.Service
	p   *check.Parsed
	cwd string
	fs  []check.Finding

	svcPath string
	svc     *types.ServiceConfig

	work  check.KubeDoc
	pod   *corev1.PodSpec
	ctr   *corev1.Container
	cPath string
}

// add records a finding whose message ends with the spec position of field.
func (v *specView) add(file string, line int, rule, field, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg += " (spec: " + v.s.Where(field, v.cwd) + ")"
	}
	v.fs = append(v.fs, check.Finding{File: file, Line: line, Rule: rule, Message: msg})
}

func (v *specView) sline(sub string) int {
	if sub == "" {
		return v.p.Compose.Line(v.svcPath)
	}
	return v.p.Compose.Line(v.svcPath + "." + sub)
}

func (v *specView) cline(sub string) int {
	if sub == "" {
		return v.work.Line(v.cPath)
	}
	return v.work.Line(v.cPath + "." + sub)
}

// Against holds whichever artifacts parsed against the spec: process,
// user, ports, health, privileges, env, volumes and forbidden things.
// cwd is the folder spec positions are printed relative to.
func Against(s *spec.Service, p *check.Parsed, cwd string, same map[string]bool) []check.Finding {
	v := &specView{s: s, p: p, cwd: cwd}
	if p.Compose != nil {
		if name, svc, err := p.Compose.Service(); err == nil {
			v.svcPath, v.svc = "services."+name, &svc
		}
	}
	if p.Kube != nil {
		v.findWorkload()
	}
	if p.Dockerfile != nil {
		v.dockerfile()
	}
	if p.Script != nil {
		v.script()
	}
	if v.svc != nil {
		v.compose()
	}
	if v.ctr != nil {
		v.kube()
	}
	var out []check.Finding
	for _, f := range v.fs {
		if same[f.File] || f.Rule == RuleForbidden {
			out = append(out, f)
		}
	}
	return check.SortFindings(out)
}

// findWorkload finds the StatefulSet (or Deployment) and its one container.
func (v *specView) findWorkload() {
	for _, d := range v.p.Kube.Docs {
		var pod *corev1.PodSpec
		switch o := d.Object.(type) {
		case *appsv1.StatefulSet:
			pod = &o.Spec.Template.Spec
		case *appsv1.Deployment:
			pod = &o.Spec.Template.Spec
		}
		if pod != nil && len(pod.Containers) == 1 {
			v.work, v.pod, v.ctr, v.cPath = d, pod, &pod.Containers[0], "spec.template.spec.containers.0"
			return
		}
	}
}

// entryLine is the spec's entry as a command line, for messages.
func (v *specView) entryLine() string {
	return strings.Join(append([]string{v.s.Entry.Binary}, v.s.Entry.Args...), " ")
}

// healthCmd is the health command the spec asks Docker and compose to run.
func (v *specView) healthCmd() []string {
	return append([]string{"CMD", "/usr/local/bin/" + v.s.Entry.Binary}, v.s.Entry.Health...)
}

// dockerfile: the image runs as the spec's user, exposes the spec's ports,
// health-checks with the entry's health subcommand and the spec's timings,
// sets no variable the spec does not declare, and carries nothing forbidden.
func (v *specView) dockerfile() {
	d, s := v.p.Dockerfile, v.s
	const f = check.FileDockerfile
	if len(d.Entrypoint) > 0 && d.EntrypointExec && path.Base(d.Entrypoint[0]) == s.Entry.Binary {
		// The image runs the entry directly, without a start script.
		if got := d.Entrypoint[1:]; !slices.Equal(got, s.Entry.Args) {
			v.add(f, d.EntrypointLine, check.RuleProcess, "entry.args", "ENTRYPOINT runs `%s`, but the spec's entry is `%s`", strings.Join(d.Entrypoint, " "), v.entryLine())
		}
	}
	if d.UserLine != 0 {
		if want := fmt.Sprintf("%d:%d", s.Image.UID, s.Image.GID); d.User != want && d.User != strconv.Itoa(s.Image.UID) {
			v.add(f, d.UserLine, check.RuleUser, "image.user", "USER %s, but the spec's user is %s", d.User, want)
		}
	}
	exposed := map[string]int{}
	for _, e := range d.Expose {
		exposed[e.Port] = e.Line
	}
	v.ports(f, "EXPOSE", exposed, exposeLine(d))
	if h := d.Health; h != nil {
		v.healthCommand(f, h.Line, "HEALTHCHECK", h.Test)
		v.timing(f, h.Line, "HEALTHCHECK --interval", h.Interval, s.Health.Interval, "health.interval")
		v.timing(f, h.Line, "HEALTHCHECK --timeout", h.Timeout, s.Health.Timeout, "health.timeout")
		v.timing(f, h.Line, "HEALTHCHECK --start-period", h.StartPeriod, s.Health.StartPeriod, "health.startPeriod")
		if h.Retries != s.Health.Retries {
			v.add(f, h.Line, check.RuleHealth, "health.retries", "HEALTHCHECK --retries=%d, but the spec says %d", h.Retries, s.Health.Retries)
		}
	}
	declared := v.declared()
	for _, e := range d.Env {
		ev, ok := declared[e.Key]
		switch {
		case !ok:
			v.add(f, e.Line, check.RuleEnv, "env", "ENV %s is not declared in the spec: nothing would read it", e.Key)
		case ev.Secret:
			v.add(f, e.Line, check.RuleSecrets, "env."+e.Key, "ENV %s bakes a secret into the image; it comes from the environment at run time", e.Key)
		default:
			v.value(f, e.Line, "ENV", e.Key, e.Value)
		}
	}
	// Forbidden binaries: copied in, installed or run by a RUN, or run by
	// the health check.
	for _, c := range d.Copies {
		for _, p := range append([]string{c.Dest}, c.Sources...) {
			if b := v.forbiddenWord(path.Base(p)); b != "" {
				v.add(f, c.Line, RuleForbidden, "image.forbid.binaries", "COPY puts %s in the image, which the spec forbids", b)
				break
			}
		}
	}
	for _, r := range d.Runs {
		for _, w := range strings.FieldsFunc(r.Word, func(c rune) bool { return strings.ContainsRune(" \t;&|()'\"=", c) }) {
			if b := v.forbiddenWord(path.Base(w)); b != "" {
				v.add(f, r.Line, RuleForbidden, "image.forbid.binaries", "RUN installs or runs %s, which the spec forbids in the image", b)
				break
			}
		}
	}
	if h := d.Health; h != nil {
		v.forbiddenCommand(f, h.Line, "HEALTHCHECK", h.Test)
	}
}

func exposeLine(d *check.Dockerfile) int {
	if len(d.Expose) > 0 {
		return d.Expose[0].Line
	}
	return 1
}

// declared maps the spec's variable names to their declarations.
func (v *specView) declared() map[string]spec.EnvVar {
	m := map[string]spec.EnvVar{}
	for _, e := range v.s.Env {
		m[e.Name] = e
	}
	return m
}

// ports holds a side's "port/proto" set equal to the spec's ports.
func (v *specView) ports(file, what string, got map[string]int, line int) {
	want := map[string]string{}
	for _, p := range v.s.Ports {
		want[fmt.Sprintf("%d/%s", p.Number, strings.ToLower(p.Protocol))] = p.Name
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			v.add(file, got[k], check.RulePorts, "ports", "%s %s is not a port the spec declares", what, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			v.add(file, line, check.RulePorts, "ports."+want[k], "%s lacks the spec's port %s (%s)", what, want[k], k)
		}
	}
}

func (v *specView) timing(file string, line int, what string, got, want time.Duration, field string) {
	if got != want {
		v.add(file, line, check.RuleHealth, field, "%s %s, but the spec says %s", what, got, want)
	}
}

// urlRE finds URLs in health check commands (the seed probed with curl).
var urlRE = regexp.MustCompile(`https?://[^\s"']+`)

// healthCommand holds a Docker-style health test to the spec: the entry
// binary's health subcommand; any URL in it must name the health port and
// a declared health path.
func (v *specView) healthCommand(file string, line int, what string, test []string) {
	if len(test) == 0 {
		return
	}
	want := v.healthCmd()
	if !slices.Equal(test, want) {
		v.add(file, line, check.RuleHealth, "entry.health", "%s runs %q, but the spec's health check is %q", what, test, want)
	}
	for _, u := range urlRE.FindAllString(strings.Join(test[1:], " "), -1) {
		pu, err := url.Parse(u)
		if err != nil {
			continue
		}
		port := pu.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[pu.Scheme]
		}
		v.probe(file, line, what, port, pu.Path)
	}
}

// probe holds one probed port (number or name) and path to the spec.
func (v *specView) probe(file string, line int, what, port, urlPath string) {
	hp, _ := v.s.Port(v.s.Health.Port)
	if port != strconv.Itoa(hp.Number) && port != hp.Name {
		v.add(file, line, check.RuleHealth, "health.port", "%s probes port %s, but the spec's health port is %s (%d)", what, port, hp.Name, hp.Number)
	}
	if urlPath != v.s.Health.Liveness && urlPath != v.s.Health.Readiness {
		v.add(file, line, check.RuleHealth, "health.liveness", "%s probes path %s, which the spec does not declare (liveness %s, readiness %s)", what, urlPath, v.s.Health.Liveness, v.s.Health.Readiness)
	}
}

// forbiddenWord returns w when the spec forbids a binary of that name.
func (v *specView) forbiddenWord(w string) string {
	if slices.Contains(v.s.Image.Forbid.Binaries, w) {
		return w
	}
	return ""
}

func (v *specView) forbiddenCommand(file string, line int, what string, words []string) {
	for _, w := range words {
		for _, f := range strings.Fields(w) {
			if b := v.forbiddenWord(path.Base(f)); b != "" {
				v.add(file, line, RuleForbidden, "image.forbid.binaries", "%s runs %s, which the spec forbids in the image", what, b)
				return
			}
		}
	}
}

// script: the start script execs the spec's entry, checks exactly the
// required variables, checks /dev/fuse iff FUSE is declared, and runs
// nothing forbidden.
func (v *specView) script() {
	sc, s := v.p.Script, v.s
	const f = check.FileScript
	if sc.Exec != nil {
		got := sc.Exec
		if path.Base(got[0]) != s.Entry.Binary || !slices.Equal(got[1:], s.Entry.Args) {
			field := "entry.args"
			if path.Base(got[0]) != s.Entry.Binary {
				field = "entry.binary"
			}
			v.add(f, sc.ExecLine, check.RuleProcess, field, "exec runs `%s`, but the spec's entry is `%s`", strings.Join(got, " "), v.entryLine())
		}
	}
	declared := v.declared()
	for _, n := range slices.Sorted(maps.Keys(sc.Required)) {
		e, ok := declared[n]
		switch {
		case !ok:
			v.add(f, sc.Required[n], check.RuleEnv, "env", "requires %s, which the spec does not declare", n)
		case !e.Required:
			v.add(f, sc.Required[n], check.RuleEnv, "env."+n, "requires %s, which the spec says is optional", n)
		}
	}
	for _, e := range s.Env {
		if _, ok := sc.Required[e.Name]; e.Required && !ok {
			v.add(f, sc.LastLine, check.RuleEnv, "env."+e.Name, "never checks %s, which the spec requires: the service would start without it", e.Name)
		}
	}
	switch {
	case s.FUSE == nil && sc.FuseCheckLine != 0:
		v.add(f, sc.FuseCheckLine, check.RulePrivileges, "fuse", "checks /dev/fuse, but the spec declares no FUSE mount")
	case s.FUSE != nil && sc.FuseCheckLine == 0:
		v.add(f, sc.LastLine, check.RulePrivileges, "fuse.mountPoint", "never checks /dev/fuse, which the spec's FUSE mount needs")
	}
	v.scriptAssigns(sc)
	syntax.Walk(sc.AST, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			name := c.Args[0].Lit()
			if name == "exec" && len(c.Args) > 1 {
				name = c.Args[1].Lit()
			}
			if b := v.forbiddenWord(path.Base(name)); b != "" {
				v.add(f, int(c.Pos().Line()), RuleForbidden, "image.forbid.binaries", "runs %s, which the spec forbids in the image", b)
			}
		}
		return true
	})
}

// envNameRE matches the names the spec allows for variables: a variable
// of such a name that the script sets is one the process may read.
var envNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// scriptAssigns holds the variables the start script exports or sets to
// the spec: an exported variable, one passed to a command (`X=1 exec ...`)
// or one of an environment variable's name set in the script must be
// declared, and a declared one must keep the spec's value. Lower-case
// names assigned and never exported are the script's own.
func (v *specView) scriptAssigns(sc *check.Script) {
	const f = check.FileScript
	declared := v.declared()
	visit := func(a *syntax.Assign, exported bool) {
		if a == nil || a.Name == nil {
			return
		}
		n, line := a.Name.Value, int(a.Pos().Line())
		if _, ok := declared[n]; !ok {
			switch {
			case exported:
				v.add(f, line, check.RuleEnv, "env", "exports %s, which the spec does not declare: declare it under env (with a description) or drop it", n)
			case envNameRE.MatchString(n):
				v.add(f, line, check.RuleEnv, "env", "sets %s, which the spec does not declare: declare it under env (with a description) or drop it", n)
			}
			return
		}
		if a.Value != nil {
			if lit, ok := literal(a.Value); ok {
				v.value(f, line, "the start script", n, lit)
			}
		}
	}
	syntax.Walk(sc.AST, func(n syntax.Node) bool {
		switch c := n.(type) {
		case *syntax.DeclClause:
			exported := c.Variant != nil && c.Variant.Value == "export"
			for _, a := range c.Args {
				visit(a, exported)
			}
		case *syntax.CallExpr:
			// `X=1` alone sets a shell variable; `X=1 cmd` passes it to cmd.
			for _, a := range c.Assigns {
				visit(a, len(c.Args) > 0)
			}
			if len(c.Args) > 1 && c.Args[0].Lit() == "export" {
				for _, w := range c.Args[1:] {
					text, lit := literal(w)
					if !lit {
						text = w.Lit()
					}
					name, val, hasVal := strings.Cut(text, "=")
					_, ok := declared[name]
					switch {
					case name != "" && !ok:
						v.add(f, int(w.Pos().Line()), check.RuleEnv, "env", "exports %s, which the spec does not declare: declare it under env (with a description) or drop it", name)
					case ok && hasVal && lit:
						v.value(f, int(w.Pos().Line()), "the start script", name, val)
					}
				}
			}
		}
		return true
	})
}

// literal returns a shell word's value when it is literal text (plain,
// single- or double-quoted without expansions).
func literal(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(l.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// value holds the value one side gives a declared, non-secret variable
// equal to the spec's value: a different one undoes the spec (a port the
// published one does not lead to, an empty mount point that disables the
// FUSE mount the privileges were granted for).
func (v *specView) value(file string, line int, where, name, got string) {
	e, ok := v.declared()[name]
	if !ok || e.Secret || !e.HasValue || got == e.Value {
		return
	}
	why := ""
	if v.s.FUSE != nil && e.Value == v.s.FUSE.MountPoint && got == "" {
		why = " (empty: nothing is mounted, yet the FUSE privileges stay granted)"
	}
	v.add(file, line, check.RuleEnv, "env."+name, "%s sets %s=%q%s, but the spec's value is %q: generate it from the spec or change the spec", where, name, got, why, e.Value)
}

// compose: the service adds exactly the spec's capabilities and devices,
// sets exactly the spec's variables, publishes its ports, health-checks
// like the spec and mounts its volumes.
func (v *specView) compose() {
	svc, s := v.svc, v.s
	const f = check.FileCompose
	if svc.User != "" {
		if uid, _, _ := strings.Cut(svc.User, ":"); uid != strconv.Itoa(s.Image.UID) {
			v.add(f, v.sline("user"), check.RuleUser, "image.user.uid", "user %s, but the spec's uid is %d", svc.User, s.Image.UID)
		}
	}
	got := map[string]int{}
	for i, p := range svc.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		got[fmt.Sprintf("%d/%s", p.Target, strings.ToLower(proto))] = v.sline(fmt.Sprintf("ports.%d", i))
	}
	v.ports(f, "ports", got, v.sline("ports"))
	if h := svc.HealthCheck; h != nil && !h.Disable {
		l := v.sline("healthcheck")
		v.healthCommand(f, v.sline("healthcheck.test"), "healthcheck", h.Test)
		v.forbiddenCommand(f, v.sline("healthcheck.test"), "healthcheck", h.Test)
		v.timing(f, v.sline("healthcheck.interval"), "healthcheck interval", durOr0(h.Interval), s.Health.Interval, "health.interval")
		v.timing(f, v.sline("healthcheck.timeout"), "healthcheck timeout", durOr0(h.Timeout), s.Health.Timeout, "health.timeout")
		v.timing(f, v.sline("healthcheck.start_period"), "healthcheck start_period", durOr0(h.StartPeriod), s.Health.StartPeriod, "health.startPeriod")
		if h.Retries == nil || int(*h.Retries) != s.Health.Retries {
			v.add(f, l, check.RuleHealth, "health.retries", "healthcheck retries differ from the spec's %d", s.Health.Retries)
		}
	}
	caps := map[string]int{}
	for _, c := range svc.CapAdd {
		caps[capName(c)] = v.sline("cap_add")
	}
	v.capabilities(f, "cap_add", caps, v.sline("cap_add"))
	devs := map[string]int{}
	for i, d := range svc.Devices {
		devs[d.Source] = v.sline(fmt.Sprintf("devices.%d", i))
	}
	v.devices(f, devs, v.sline("devices"))
	if svc.Privileged && !s.Security.Privileged {
		v.add(f, v.sline("privileged"), check.RulePrivileges, "security.privileged", "privileged, but the spec does not ask for it (nor say why)")
	}
	env := map[string]int{}
	for n := range svc.Environment {
		env[n] = v.sline("environment." + n)
	}
	v.env(f, "compose", env, v.sline("environment"))
	for _, n := range slices.Sorted(maps.Keys(env)) {
		raw, ok := v.p.Compose.RawEnv(strings.TrimPrefix(v.svcPath, "services."), n)
		if val := svc.Environment[n]; ok && val != nil && !strings.Contains(raw, "$") {
			v.value(f, env[n], "compose", n, *val)
		}
	}
	for _, e := range s.Env {
		raw, ok := v.p.Compose.RawEnv(strings.TrimPrefix(v.svcPath, "services."), e.Name)
		if e.Secret && ok && !strings.HasPrefix(strings.TrimSpace(raw), "${"+e.Name+":?") {
			v.add(f, v.sline("environment."+e.Name), check.RuleSecrets, "env."+e.Name, "%s is a secret: take it from the operator's environment with ${%s:?...}, never a literal or a default", e.Name, e.Name)
		}
	}
	mounts := map[string]mount{}
	for i, vol := range svc.Volumes {
		kind := "persistent"
		if vol.Type == types.VolumeTypeTmpfs {
			kind = "tmpfs"
		} else if vol.Type != types.VolumeTypeVolume {
			kind = vol.Type
		}
		mounts[path.Clean(vol.Target)] = mount{kind, v.sline(fmt.Sprintf("volumes.%d", i))}
	}
	for i, t := range svc.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		mounts[path.Clean(target)] = mount{"tmpfs", v.sline(fmt.Sprintf("tmpfs.%d", i))}
	}
	v.volumes(f, mounts, v.sline("volumes"))
	if svc.ReadOnly != s.Security.ReadOnlyRoot {
		v.add(f, v.sline("read_only"), check.RuleVolumes, "security.readOnlyRoot", "read_only is %t, but the spec's readOnlyRoot is %t", svc.ReadOnly, s.Security.ReadOnlyRoot)
	}
}

func durOr0(d *types.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

// capName normalises "CAP_SYS_ADMIN" and "sys_admin" to "SYS_ADMIN".
func capName(s string) string {
	return strings.TrimPrefix(strings.ToUpper(s), "CAP_")
}

// capabilities holds a side's added capabilities equal to the spec's: one
// the spec does not grant has no reason, and SYS_ADMIN without a FUSE
// mount serves nothing (the seed's finding).
func (v *specView) capabilities(file, what string, got map[string]int, line int) {
	want := map[string]bool{}
	for _, g := range v.s.Security.Capabilities {
		want[g.Name] = true
	}
	for _, c := range slices.Sorted(maps.Keys(got)) {
		switch {
		case want[c]:
		case c == "SYS_ADMIN" && v.s.FUSE == nil:
			v.add(file, got[c], check.RulePrivileges, "fuse", "%s adds SYS_ADMIN, but the spec declares no FUSE mount (fuse.mountPoint) that needs it", what)
		default:
			v.add(file, got[c], check.RulePrivileges, "security.capabilities", "%s adds %s, which the spec does not grant: no reason says why it is needed", what, c)
		}
	}
	for _, g := range v.s.Security.Capabilities {
		if _, ok := got[g.Name]; !ok {
			v.add(file, line, check.RulePrivileges, "security.capabilities."+g.Name, "%s lacks %s, which the spec grants (%s)", what, g.Name, g.Reason)
		}
	}
}

// devices holds compose's devices equal to the spec's.
func (v *specView) devices(file string, got map[string]int, line int) {
	want := map[string]string{}
	for _, g := range v.s.Security.Devices {
		want[g.Name] = g.Reason
	}
	for _, d := range slices.Sorted(maps.Keys(got)) {
		switch _, ok := want[d]; {
		case ok:
		case d == "/dev/fuse" && v.s.FUSE == nil:
			v.add(file, got[d], check.RulePrivileges, "fuse", "devices maps /dev/fuse, but the spec declares no FUSE mount (fuse.mountPoint) that needs it")
		default:
			v.add(file, got[d], check.RulePrivileges, "security.devices", "devices maps %s, which the spec does not grant: no reason says why it is needed", d)
		}
	}
	for _, g := range v.s.Security.Devices {
		if _, ok := got[g.Name]; !ok {
			v.add(file, line, check.RulePrivileges, "security.devices", "devices lacks %s, which the spec grants (%s)", g.Name, g.Reason)
		}
	}
}

// env holds the variables a side sets equal to the spec's declared set.
func (v *specView) env(file, what string, got map[string]int, line int) {
	declared := v.declared()
	for _, n := range slices.Sorted(maps.Keys(got)) {
		if _, ok := declared[n]; !ok {
			v.add(file, got[n], check.RuleEnv, "env", "%s is set in %s, but the spec does not declare it: nothing would read it", n, what)
		}
	}
	for _, e := range v.s.Env {
		if _, ok := got[e.Name]; !ok && (e.Required || e.HasValue) {
			v.add(file, line, check.RuleEnv, "env."+e.Name, "%s does not give the process %s, which the spec declares", what, e.Name)
		}
	}
}

// mount is a writable path on one side: "persistent", "tmpfs" or another kind.
type mount struct {
	kind string
	line int
}

// volumes holds a side's mounts equal to the spec's volumes.
func (v *specView) volumes(file string, got map[string]mount, line int) {
	want := map[string]spec.Volume{}
	for _, vol := range v.s.Volumes {
		want[vol.Path] = vol
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		m := got[p]
		vol, ok := want[p]
		wantKind := "tmpfs"
		if vol.Persistent {
			wantKind = "persistent"
		}
		switch {
		case m.kind == "config":
		case !ok:
			v.add(file, m.line, check.RuleVolumes, "volumes", "mounts %s, which is not a volume of the spec", p)
		case m.kind != wantKind:
			v.add(file, m.line, check.RuleVolumes, "volumes."+vol.Name+".kind", "mounts %s as %s, but the spec's volume %s is %s", p, m.kind, vol.Name, wantKind)
		}
	}
	for _, vol := range v.s.Volumes {
		if _, ok := got[vol.Path]; !ok {
			v.add(file, line, check.RuleVolumes, "volumes."+vol.Name, "does not mount the spec's volume %s (%s)", vol.Name, vol.Path)
		}
	}
}

// kube: the container adds the spec's capabilities, gets the FUSE device
// iff the spec declares FUSE, sets the spec's variables, declares its
// ports, probes its health paths with its timings and mounts its volumes.
func (v *specView) kube() {
	c, s := v.ctr, v.s
	const f = check.FileKube
	if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser != int64(s.Image.UID) {
		v.add(f, v.cline("securityContext.runAsUser"), check.RuleUser, "image.user.uid", "runAsUser %d, but the spec's uid is %d", *sc.RunAsUser, s.Image.UID)
	}
	ports := map[string]int{}
	for i, p := range c.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		ports[fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(proto))] = v.cline(fmt.Sprintf("ports.%d", i))
	}
	v.ports(f, "containerPort", ports, v.cline("ports"))
	for _, pr := range []struct {
		name, want, field string
		probe             *corev1.Probe
	}{
		{"livenessProbe", s.Health.Liveness, "health.liveness", c.LivenessProbe},
		{"readinessProbe", s.Health.Readiness, "health.readiness", c.ReadinessProbe},
		{"startupProbe", s.Health.Liveness, "health.liveness", c.StartupProbe},
	} {
		p := pr.probe
		if p == nil {
			continue
		}
		switch {
		case p.HTTPGet != nil:
			if p.HTTPGet.Path != pr.want {
				v.add(f, v.cline(pr.name+".httpGet.path"), check.RuleHealth, pr.field, "%s probes path %s, but the spec's path is %s", pr.name, p.HTTPGet.Path, pr.want)
			}
			if port := v.portNumber(p.HTTPGet.Port); port != v.healthPort() {
				v.add(f, v.cline(pr.name+".httpGet.port"), check.RuleHealth, "health.port", "%s probes port %s, but the spec's health port is %s (%d)", pr.name, p.HTTPGet.Port.String(), s.Health.Port, v.healthPort())
			}
		case p.Exec != nil:
			v.forbiddenCommand(f, v.cline(pr.name+".exec"), pr.name, p.Exec.Command)
			for _, u := range urlRE.FindAllString(strings.Join(p.Exec.Command, " "), -1) {
				if pu, err := url.Parse(u); err == nil {
					v.probe(f, v.cline(pr.name+".exec"), pr.name, pu.Port(), pu.Path)
				}
			}
		}
		if pr.name == "startupProbe" {
			continue
		}
		if p.PeriodSeconds != int32(s.Health.Interval/time.Second) {
			v.add(f, v.cline(pr.name+".periodSeconds"), check.RuleHealth, "health.interval", "%s periodSeconds %d, but the spec's interval is %s", pr.name, p.PeriodSeconds, s.Health.Interval)
		}
		if p.TimeoutSeconds != int32(s.Health.Timeout/time.Second) {
			v.add(f, v.cline(pr.name+".timeoutSeconds"), check.RuleHealth, "health.timeout", "%s timeoutSeconds %d, but the spec's timeout is %s", pr.name, p.TimeoutSeconds, s.Health.Timeout)
		}
		if int(p.FailureThreshold) != s.Health.Retries {
			v.add(f, v.cline(pr.name+".failureThreshold"), check.RuleHealth, "health.retries", "%s failureThreshold %d, but the spec's retries are %d", pr.name, p.FailureThreshold, s.Health.Retries)
		}
	}
	caps := map[string]int{}
	privileged := false
	if sc := c.SecurityContext; sc != nil {
		if sc.Capabilities != nil {
			for _, cp := range sc.Capabilities.Add {
				caps[capName(string(cp))] = v.cline("securityContext.capabilities.add")
			}
		}
		privileged = sc.Privileged != nil && *sc.Privileged
	}
	v.capabilities(f, "capabilities", caps, v.cline("securityContext.capabilities"))
	if privileged && !s.Security.Privileged {
		v.add(f, v.cline("securityContext.privileged"), check.RulePrivileges, "security.privileged", "privileged, but the spec does not ask for it (nor say why)")
	}
	fuse := privileged
	for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		for n := range rl {
			fuse = fuse || strings.HasSuffix(string(n), "/fuse")
		}
	}
	switch {
	case fuse && s.FUSE == nil && !privileged:
		v.add(f, v.cline("resources"), check.RulePrivileges, "fuse", "requests a FUSE device, but the spec declares no FUSE mount (fuse.mountPoint) that needs it")
	case !fuse && s.FUSE != nil:
		v.add(f, v.cline("resources"), check.RulePrivileges, "fuse.mountPoint", "gets no FUSE device (resource %s), which the spec's FUSE mount needs", s.Kubernetes.FUSEResource)
	}
	env := map[string]int{}
	for i, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		if cm, doc, ok := v.p.Kube.ConfigMap(ef.ConfigMapRef.Name); ok {
			for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
				env[ef.Prefix+k] = v.cline(fmt.Sprintf("envFrom.%d", i))
				v.value(f, doc.Line("data."+k), "ConfigMap "+cm.Name, ef.Prefix+k, cm.Data[k])
			}
		}
	}
	for i, e := range c.Env {
		env[e.Name] = v.cline(fmt.Sprintf("env.%d", i))
		switch {
		case e.ValueFrom == nil:
			v.value(f, v.cline(fmt.Sprintf("env.%d", i)), "the container's env", e.Name, e.Value)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			if cm, doc, ok := v.p.Kube.ConfigMap(ref.Name); ok {
				if val, ok := cm.Data[ref.Key]; ok {
					v.value(f, doc.Line("data."+ref.Key), "ConfigMap "+cm.Name, e.Name, val)
				}
			}
		}
	}
	v.env(f, "Kubernetes", env, v.cline("env"))
	declared := v.declared()
	for i, e := range c.Env {
		if d, ok := declared[e.Name]; ok && d.Secret && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			v.add(f, v.cline(fmt.Sprintf("env.%d", i)), check.RuleSecrets, "env."+e.Name, "%s is a secret: take it from a Secret with secretKeyRef", e.Name)
		}
	}
	podVols := map[string]corev1.Volume{}
	for _, pv := range v.pod.Volumes {
		podVols[pv.Name] = pv
	}
	claims := map[string]bool{}
	if ss, ok := v.work.Object.(*appsv1.StatefulSet); ok {
		for _, t := range ss.Spec.VolumeClaimTemplates {
			claims[t.Name] = true
		}
	}
	mounts := map[string]mount{}
	for i, vm := range c.VolumeMounts {
		kind := "unknown"
		if pv, ok := podVols[vm.Name]; ok {
			switch {
			case pv.EmptyDir != nil:
				kind = "tmpfs"
			case pv.PersistentVolumeClaim != nil:
				kind = "persistent"
			case pv.ConfigMap != nil, pv.Secret != nil, pv.Projected != nil:
				kind = "config"
			case pv.HostPath != nil:
				kind = "hostPath"
			}
		} else if claims[vm.Name] {
			kind = "persistent"
		}
		mounts[path.Clean(vm.MountPath)] = mount{kind, v.cline(fmt.Sprintf("volumeMounts.%d", i))}
	}
	v.volumes(f, mounts, v.cline("volumeMounts"))
}

// healthPort is the number of the spec's health port.
func (v *specView) healthPort() int32 {
	p, _ := v.s.Port(v.s.Health.Port)
	return int32(p.Number)
}

// portNumber resolves a probe port (number or container port name).
func (v *specView) portNumber(p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range v.ctr.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}
