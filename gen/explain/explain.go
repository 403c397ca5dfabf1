// Package explain says, for each field of a spec, how each artifact
// expresses it: exactly, approximately (and how), not at all, or not its
// concern. It exists so that nothing is dropped silently: a field with an
// effect that a target cannot express is an error (Unhandled) unless the
// spec's omit records why that target leaves it out.
package explain

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Targets are the artifacts in table order, with the names the spec's
// omit uses.
var Targets = []Target{
	{"dockerfile", "Dockerfile"},
	{"script", "start.sh"},
	{"compose", "compose.yaml"},
	{"kubernetes", "kubernetes.yaml"},
}

// Target is one artifact: its key in omit and its file name.
type Target struct{ Key, File string }

// Fidelity is how faithfully a target expresses a field.
type Fidelity string

const (
	// Exact: the target says the same thing.
	Exact Fidelity = "exact"
	// Approximated: the target says something close; How says what.
	Approximated Fidelity = "approximated"
	// NotExpressible: the target cannot say it; an error unless omitted.
	NotExpressible Fidelity = "not expressible"
	// Omitted: not expressible, and the spec's omit says why.
	Omitted Fidelity = "omitted"
	// NotApplicable: the field is not this artifact's concern (another
	// artifact of the same deployment carries it).
	NotApplicable Fidelity = "n/a"
)

// Cell is one field in one target.
type Cell struct {
	Fidelity Fidelity
	How      string
}

// Row is one spec field across the four targets (in Targets order).
type Row struct {
	Field string // concrete path, "volumes.events.size"
	Value string // the field's value, for the reader
	// Covers names the fields below Field the row explains too, because
	// the artifacts carry them together ("number" and "protocol" of a
	// port); Missing counts them as explained.
	Covers []string
	Cells  [4]Cell
}

func exact(how string) Cell  { return Cell{Exact, how} }
func approx(how string) Cell { return Cell{Approximated, how} }
func notExp(why string) Cell { return Cell{NotExpressible, why} }
func na(why string) Cell     { return Cell{NotApplicable, why} }
func row(field, value string, d, s, c, k Cell) Row {
	return Row{Field: field, Value: value, Cells: [4]Cell{d, s, c, k}}
}

// covering is r explaining the sub-fields covers too.
func covering(r Row, covers ...string) Row {
	r.Covers = covers
	return r
}

// paths are the fields r explains: Field and Field.<cover> for each cover.
func (r Row) paths() []string {
	out := []string{r.Field}
	for _, c := range r.Covers {
		out = append(out, r.Field+"."+c)
	}
	return out
}

// Rows returns the table for s, field by field in schema order, with the
// spec's omit reasons applied to the cells a target cannot express.
func Rows(s *spec.Service) []Row {
	out := rows(s)
	for i := range out {
		applyOmit(s, &out[i])
	}
	return out
}

// rows is the table for s before the spec's omit is applied.
func rows(s *spec.Service) []Row {
	bin := "/usr/local/bin/" + s.Entry.Binary
	fromImage := na("inherited from the image, never overridden")
	var rows []Row
	add := func(r ...Row) { rows = append(rows, r...) }

	add(row("name", s.Name, exact("LABEL org.opencontainers.image.title; /usr/local/bin/"+s.Name+"-start"), exact("its log prefix"),
		exact("service name"), exact("metadata.name of every object")))
	add(row("description", s.Description, exact("LABEL org.opencontainers.image.description"), na("not shown"),
		na("compose has no description"), na("kept in the image label")))
	add(row("entry.package", s.Entry.Package, packageCell(s), na("runs the built binary"), na("builds with the Dockerfile"), na("runs the image")))
	add(row("entry.binary", s.Entry.Binary, exact("COPY to "+bin), exact("exec "+bin), fromImage, fromImage))
	add(row("entry.args", strings.Join(s.Entry.Args, " "), exact("ENTRYPOINT runs the start script, which passes them"),
		exact("exec "+strings.Join(append([]string{bin}, s.Entry.Args...), " ")), fromImage, fromImage))
	add(row("entry.health", strings.Join(s.Entry.Health, " "), exact("HEALTHCHECK CMD "+bin+" "+strings.Join(s.Entry.Health, " ")),
		na("not run at start"), exact("healthcheck.test"),
		approx("HTTP probes on health.liveness and health.readiness instead of the health subcommand")))
	add(row("image.ref", s.Image.Ref, na("the tag is given at build time"), na("inside the image"), exact("image (and build)"), exact("container image")))
	add(row("image.builder", s.Image.Builder, builderCell(s), na("inside the image"), na("builds with the Dockerfile"), na("runs the image")))
	add(row("image.runtime", s.Image.Runtime, exact("FROM of the final stage"), exact("#!/bin/sh of the runtime image"), na("builds with the Dockerfile"), na("runs the image")))
	add(row("image.mode", s.Image.Mode, modeCell(s), na("the same binary either way"), na("builds with the Dockerfile"), na("runs the image")))
	add(covering(row("image.user", fmt.Sprintf("%d:%d", s.Image.UID, s.Image.GID), exact("USER (numeric)"), na("runs as the image's user"),
		exact("inherited from USER (no override)"), exact("runAsUser, runAsGroup, runAsNonRoot when uid is not 0")), "uid", "gid"))
	if s.Image.UID == 0 {
		add(row("image.user.rootReason", s.Image.RootReason, exact("LABEL io.lighthouse.run.root-reason"), na("kept in the image label"),
			na("kept in the image label"), na("kept in the image label")))
	}
	add(row("image.workdir", s.Image.Workdir, exact("WORKDIR"), na("runs in the image's WORKDIR"), fromImage, exact("workingDir")))
	add(row("image.labels", labelCount(s.Image.Labels), exact("LABEL"), na("no labels"), na("kept on the image"), na("kept on the image")))
	add(covering(row("image.forbid", orNone(strings.Join(append(slices.Clone(s.Image.Forbid.Binaries), s.Image.Forbid.GoModules...), " ")),
		exact("checked: no COPY, RUN or HEALTHCHECK of a forbidden binary; Go modules by audit --binary"),
		exact("checked: runs no forbidden binary"), exact("checked: health check runs none"), exact("checked: probes run none")), "binaries", "goModules"))
	for _, p := range s.Ports {
		add(covering(row("ports."+p.Name, fmt.Sprintf("%d/%s", p.Number, p.Protocol), exact("EXPOSE"), na("the binary listens"),
			exact("ports (published on the same number)"), exact("containerPort, Service port and targetPort, NetworkPolicy ingress")), "number", "protocol"))
	}
	h := s.Health
	add(row("health.port", h.Port, approx("the health subcommand finds the port itself"), na("not run at start"),
		approx("the health subcommand finds the port itself"), exact("probe port (by name)")))
	for _, f := range []struct{ field, path string }{{"health.liveness", h.Liveness}, {"health.readiness", h.Readiness}} {
		add(row(f.field, f.path, approx("one HEALTHCHECK runs the health subcommand, which must probe "+f.path+" (the bridge's contract test holds it)"),
			na("not run at start"), approx("one healthcheck, as the Dockerfile's"), exact(probeNames(f.field))))
	}
	for _, t := range []struct{ field, value, docker, compose, kube string }{
		{"health.interval", h.Interval.String(), "--interval", "interval", "periodSeconds"},
		{"health.timeout", h.Timeout.String(), "--timeout", "timeout", "timeoutSeconds"},
		{"health.retries", fmt.Sprint(h.Retries), "--retries", "retries", "failureThreshold"},
	} {
		add(row(t.field, t.value, exact("HEALTHCHECK "+t.docker), na("not run at start"),
			exact("healthcheck "+t.compose), exact("liveness and readiness probes' "+t.kube)))
	}
	add(row("health.startPeriod", h.StartPeriod.String(), exact("HEALTHCHECK --start-period"), na("not run at start"), exact("healthcheck start_period"),
		approx("a startupProbe of ceil(startPeriod / interval) + retries periods, at least the start period")))
	for _, e := range s.Env {
		add(envRow(e))
	}
	for _, v := range s.Volumes {
		add(volumeRows(v)...)
	}
	if s.FUSE != nil {
		k := approx("device-plugin resource " + s.Kubernetes.FUSEResource + " (1), SYS_ADMIN, AppArmor unconfined")
		if s.Kubernetes.FUSEDevice == "privileged" {
			k = approx("a privileged container, which has every device")
		}
		add(row("fuse.mountPoint", s.FUSE.MountPoint, exact("mkdir in the image; LABEL io.lighthouse.fuse.mount-point"),
			exact("checks /dev/fuse and the mount point before exec"), approx("devices /dev/fuse, cap_add SYS_ADMIN, apparmor:unconfined"), k))
	}
	for _, c := range s.Security.Capabilities {
		add(covering(row("security.capabilities."+c.Name, c.Reason, exact("LABEL io.lighthouse.capability.*, with the reason"), na("runs with what it is given"),
			exact("cap_drop ALL, cap_add "+c.Name), exact("capabilities drop ALL, add "+c.Name)), "reason"))
	}
	for _, d := range s.Security.Devices {
		k := notExp("a pod gets host devices only through a device plugin or privilege")
		if d.Name == "/dev/fuse" && s.FUSE != nil {
			k = approx("through kubernetes.fuseDevice (" + s.Kubernetes.FUSEDevice + ")")
		}
		add(covering(row("security.devices."+d.Name, d.Reason, exact("LABEL io.lighthouse.device.*, with the reason"), na("checks what it needs"),
			exact("devices "+d.Name+":"+d.Name+":rwm"), k), "reason"))
	}
	add(row("security.privileged", fmt.Sprint(s.Security.Privileged), na("set at run time"), na("runs with what it is given"), exact("privileged"), exact("securityContext.privileged")))
	if s.Security.Privileged {
		add(row("security.privilegedReason", s.Security.PrivilegedReason, exact("LABEL io.lighthouse.privileged"), na("runs with what it is given"),
			na("kept in the image label"), na("kept in the image label")))
	}
	add(row("security.readOnlyRoot", fmt.Sprint(s.Security.ReadOnlyRoot), na("set at run time"), na("writes only under volumes"), exact("read_only"), exact("readOnlyRootFilesystem")))
	r := s.Resources
	for _, q := range []struct{ field, req, lim string }{{"resources.cpu", r.CPURequest, r.CPULimit}, {"resources.memory", r.MemoryRequest, r.MemoryLimit}} {
		add(covering(row(q.field, q.req+" / "+q.lim, exact("LABEL io.lighthouse.resources.*, for operators"), na("runs with what it is given"),
			approx("deploy.resources reservations / limits (docker-compose 1.x applies them with --compatibility)"), exact("resources requests / limits")), "request", "limit"))
	}
	add(row("workload.kind", s.Workload.Kind, na("one image"), na("one process"), na("compose has services, not workload kinds"), exact("kind "+s.Workload.Kind)))
	add(replicasRow(s))
	add(row("workload.stopGracePeriod", s.Workload.StopGracePeriod.String(), approx("STOPSIGNAL SIGTERM; the grace period is the runtime's"),
		exact("exec hands SIGTERM to the binary"), exact("stop_grace_period"), exact("terminationGracePeriodSeconds")))
	add(restartRow(s))
	fuseOnly := "only with a FUSE mount"
	if s.FUSE != nil {
		fuseOnly = "the pod's side of the FUSE mount"
	}
	kDev := na("no FUSE mount: no device requested")
	kRes := kDev
	if s.FUSE != nil {
		kDev = exact(s.Kubernetes.FUSEDevice + ": " + map[string]string{"device-plugin": "a device-plugin resource", "privileged": "a privileged container"}[s.Kubernetes.FUSEDevice])
		kRes = na("the privileged container needs no resource")
		if s.Kubernetes.FUSEDevice == "device-plugin" {
			kRes = exact("resources requests and limits " + s.Kubernetes.FUSEResource + ": 1")
		}
	}
	for _, k := range []struct {
		field, value string
		cell         Cell
	}{{"kubernetes.fuseDevice", s.Kubernetes.FUSEDevice, kDev}, {"kubernetes.fuseResource", s.Kubernetes.FUSEResource, kRes}} {
		add(row(k.field, k.value, na("Kubernetes only ("+fuseOnly+")"), na("Kubernetes only"), na("Kubernetes only; compose maps /dev/fuse itself"), k.cell))
	}
	add(row("labels", labelCount(s.Labels), exact("LABEL"), na("no labels"), exact("service labels"), exact("metadata.labels of every object and the pod template")))
	return rows
}

func modeCell(s *spec.Service) Cell {
	if s.Image.Mode == "prebuilt" {
		return exact("one stage: COPY bin/" + s.Entry.Binary + " from the build context")
	}
	return exact("a build stage compiles entry.package, the final stage copies the binary")
}

func labelCount(m map[string]string) string {
	switch len(m) {
	case 0:
		return "(none)"
	case 1:
		return "1 label"
	}
	return fmt.Sprintf("%d labels", len(m))
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

func packageCell(s *spec.Service) Cell {
	if s.Image.Mode == "prebuilt" {
		return approx("built outside the Dockerfile (prebuilt mode): COPY bin/" + s.Entry.Binary)
	}
	return exact("go build in the builder stage")
}

func builderCell(s *spec.Service) Cell {
	if s.Image.Mode == "prebuilt" {
		return na("prebuilt mode has no builder stage")
	}
	return exact("FROM of the build stage")
}

func probeNames(field string) string {
	if field == "health.liveness" {
		return "livenessProbe and startupProbe httpGet path"
	}
	return "readinessProbe httpGet path"
}

func envRow(e spec.EnvVar) Row {
	return covering(envCells(e), "description", "required", "secret", "path", "value")
}

func envCells(e spec.EnvVar) Row {
	field, value := "env."+e.Name, e.Value
	switch {
	case e.Secret:
		value = "(secret)"
		return row(field, value, na("never in the image"), exact("required check naming it with its description; logged as (secret, set)"),
			exact("${"+e.Name+":?...} from the operator's environment"), exact("secretKeyRef to Secret <name>-secrets"))
	case e.Required && !e.HasValue:
		return row(field, "(required, no default)", na("no default to bake in"), exact("required check naming it with its description"),
			exact("${"+e.Name+":?...} from the operator's environment"), na("set by operators in the pod"))
	}
	script := exact("logged at start")
	if e.Required {
		script = exact("required check naming it with its description")
	}
	if e.Path {
		script = exact(script.How + "; mkdir -p and a writability check")
	}
	return row(field, value, exact("ENV default"), script, exact("environment"), exact("ConfigMap <name>-config, configMapKeyRef"))
}

func volumeRows(v spec.Volume) []Row {
	field := "volumes." + v.Name
	if v.Persistent {
		return []Row{
			covering(row(field, v.Path+" (persistent)", exact("mkdir in the image"), na("checks writability of path variables"),
				exact("named volume "+v.Name), exact("volumeClaimTemplate "+v.Name)), "path", "kind"),
			row(field+".size", v.Size, na("set at run time"), na("does not size storage"),
				notExp("a named volume has no size in compose"), exact("claim storage request")),
		}
	}
	rows := []Row{covering(row(field, v.Path+" (tmpfs)", na("mounted at run time"), na("checks writability of path variables"),
		exact("tmpfs mount"), exact("emptyDir, medium Memory")), "path", "kind")}
	if v.Size != "" {
		rows = append(rows, row(field+".size", v.Size, na("set at run time"), na("does not size storage"),
			exact("tmpfs size (bytes)"), approx("emptyDir sizeLimit: the pod is evicted when over it, no ENOSPC")))
	}
	return rows
}

func replicasRow(s *spec.Service) Row {
	n := s.Workload.Replicas
	c := exact("one service, one container")
	if n > 1 {
		c = notExp("compose runs one container per service here (the published port and the volumes are not shared)")
	}
	return row("workload.replicas", fmt.Sprint(n), na("one image"), na("one process"), c, exact("StatefulSet replicas"))
}

func restartRow(s *spec.Service) Row {
	r := s.Workload.Restart
	var k Cell
	switch r {
	case "always":
		k = exact("a StatefulSet's pods restart always")
	case "unless-stopped":
		k = approx("a StatefulSet's pods restart always; stopping is scaling to 0")
	default:
		k = notExp("a StatefulSet's pods always restart (restartPolicy Always); " + r + " cannot be said")
	}
	return row("workload.restart", r, na("set at run time"), na("set at run time"), exact("restart: "+r), k)
}

// omitReason finds the spec's omit entry for a field and target: the
// concrete path, or a pattern with * for one path element
// ("volumes.*.size").
func omitReason(s *spec.Service, field, target string) (string, bool) {
	for pattern, targets := range s.Omit {
		if omitMatches(pattern, field) {
			if why, ok := targets[target]; ok {
				return why, true
			}
		}
	}
	return "", false
}

func applyOmit(s *spec.Service, r *Row) {
	for i, t := range Targets {
		if r.Cells[i].Fidelity != NotExpressible {
			continue
		}
		if why, ok := omitReason(s, r.Field, t.Key); ok {
			r.Cells[i] = Cell{Omitted, why + "; cannot: " + r.Cells[i].How}
		}
	}
}

// Unhandled returns one error per field a target cannot express and the
// spec does not omit there, at the field's spec position, naming the omit
// entry that would record the choice.
func Unhandled(s *spec.Service) error {
	var errs errors.Error
	for _, r := range Rows(s) {
		for i, c := range r.Cells {
			if c.Fidelity != NotExpressible {
				continue
			}
			t := Targets[i]
			errs = errors.Append(errs, errors.Newf(s.Pos(cuePath(r.Field)),
				"%s cannot be expressed in %s: %s; say how to handle it there with omit: %q: %s: \"<reason>\"",
				r.Field, t.File, c.How, r.Field, t.Key))
		}
	}
	if errs == nil {
		return nil
	}
	return errs
}

// cuePath quotes the device path in "security.devices./dev/fuse" so CUE can
// look the field up.
func cuePath(field string) string {
	if d, ok := strings.CutPrefix(field, "security.devices."); ok {
		return fmt.Sprintf("security.devices.%q", d)
	}
	return field
}

// Select returns the rows of field, of the fields below it ("env"
// selects every env.*) and the row that explains it with its parent
// ("ports.api.number" selects ports.api). A * stands for one path
// element, a map key ("volumes.*.size"). An empty field selects all.
func Select(rows []Row, field string) []Row {
	if field == "" {
		return rows
	}
	var out []Row
	for _, r := range rows {
		if slices.ContainsFunc(r.paths(), func(p string) bool { return matches(field, p) }) {
			out = append(out, r)
		}
	}
	return out
}

// matches reports whether path is pattern or below it, a * in pattern
// matching one element.
func matches(pattern, field string) bool {
	pe, fe := strings.Split(pattern, "."), strings.Split(field, ".")
	if len(fe) < len(pe) {
		return false
	}
	for i, p := range pe {
		if p != "*" && p != fe[i] {
			return false
		}
	}
	return true
}

// Missing returns the fields of s (spec.Service.Fields) that no row
// explains: empty, or a field reaches an artifact without anyone saying
// how. The tests hold it empty for every spec.
func Missing(s *spec.Service, rows []Row) []string {
	explained := map[string]bool{}
	for _, r := range rows {
		for _, p := range r.paths() {
			explained[p] = true
		}
	}
	var out []string
	for _, f := range s.Fields() {
		if !explained[f.Path] {
			out = append(out, f.Path)
		}
	}
	return out
}

// Write prints rows as one block per field: the field and its value, then
// one line per target with the fidelity and how.
func Write(w io.Writer, rows []Row) error {
	for i, r := range rows {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "%s = %s\n", r.Field, r.Value)
		if len(r.Covers) > 0 {
			fmt.Fprintf(w, "  (with %s.{%s})\n", r.Field, strings.Join(r.Covers, ","))
		}
		for j, t := range Targets {
			c := r.Cells[j]
			if _, err := fmt.Fprintf(w, "  %-15s  %-15s  %s\n", t.File, c.Fidelity, c.How); err != nil {
				return err
			}
		}
	}
	return nil
}
