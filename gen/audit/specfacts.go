package audit

import (
	"path"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/emit/dockerfile"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// SpecFacts are what the spec says about the service, field by field, in
// the keys and spellings the artifacts' facts use (gen/check), each
// value naming the spec field it comes from. Artifacts are held to them
// on every build, and the running container by verify --live: one
// statement of each field, one comparison.
func SpecFacts(s *spec.Service) *check.Facts {
	f := check.NewFacts("the spec")
	// express records a keyed field the spec states, at its spec field.
	express := func(fl check.Field, view, field string) {
		f.State(fl, check.Value{View: view, Spec: field})
	}
	val := func(view, field, v string) check.Value { return check.Value{V: v, View: view, Spec: field} }
	item := func(view, field, key, v string) check.Value {
		return check.Value{Key: key, V: v, View: view, Spec: field}
	}
	bin := path.Join(dockerfile.BinDir, s.Entry.Binary)
	f.Add(check.FieldEntry, val("the spec's entry", "entry", check.Argv(append([]string{bin}, s.Entry.Args...))))
	f.Add(check.FieldEntrypoint, val("the spec's start script", "name", check.Argv([]string{path.Join(dockerfile.BinDir, s.Name+"-start")})))
	f.Add(check.FieldUID, val("the spec's uid", "image.user.uid", strconv.Itoa(s.Image.UID)))
	f.Add(check.FieldGID, val("the spec's gid", "image.user.gid", strconv.Itoa(s.Image.GID)))
	express(check.FieldPorts, "the spec's ports", "ports")
	for _, p := range s.Ports {
		f.Add(check.FieldPorts, item("the spec's ports", "ports."+p.Name, strconv.Itoa(p.Number)+"/"+lower(p.Protocol), ""))
	}
	h := s.Health
	f.Add(check.FieldHealthTest, val("the spec's health check", "entry.health", check.Argv(append([]string{"CMD", bin}, s.Entry.Health...))))
	f.Add(check.FieldInterval, val("the spec's health.interval", "health.interval", check.Seconds(h.Interval)))
	f.Add(check.FieldTimeout, val("the spec's health.timeout", "health.timeout", check.Seconds(h.Timeout)))
	f.Add(check.FieldStartPeriod, val("the spec's health.startPeriod", "health.startPeriod", check.Seconds(h.StartPeriod)))
	f.Add(check.FieldRetries, val("the spec's health.retries", "health.retries", strconv.Itoa(h.Retries)))
	f.Add(check.FieldLiveness, val("the spec's health.liveness", "health.liveness", h.Liveness))
	f.Add(check.FieldReadiness, val("the spec's health.readiness", "health.readiness", h.Readiness))
	if p, ok := s.Port(h.Port); ok {
		f.Add(check.FieldHealthPort, val("the spec's health port", "health.port", strconv.Itoa(p.Number)))
	}
	express(check.FieldEnv, "the spec's env", "env")
	express(check.FieldEnvValues, "the spec's env", "env")
	express(check.FieldEnvExternal, "the spec's secret or operator-supplied variables", "env")
	express(check.FieldEnvRequired, "the spec's required variables", "env")
	for _, e := range s.Env {
		field := "env." + e.Name
		f.Add(check.FieldEnv, item("the spec's env", field, e.Name, ""))
		switch {
		case e.Secret || !e.HasValue:
			f.Add(check.FieldEnvExternal, item("the spec's secret or operator-supplied variables", field, e.Name, ""))
		default:
			f.Add(check.FieldEnvValues, item("the spec's env", field, e.Name, e.Value))
		}
		if e.Required {
			f.Add(check.FieldEnvRequired, item("the spec's required variables", field, e.Name, ""))
		}
	}
	express(check.FieldCapabilities, "the spec's capabilities", "security.capabilities")
	for _, c := range s.Security.Capabilities {
		f.Add(check.FieldCapabilities, item("the spec's capabilities", "security.capabilities."+c.Name, c.Name, ""))
	}
	f.Add(check.FieldDropAll, val("the spec (drop ALL, then add)", "security.capabilities", "ALL"))
	f.Add(check.FieldPrivileged, val("the spec's security.privileged", "security.privileged", strconv.FormatBool(s.Security.Privileged)))
	f.Add(check.FieldFUSE, val("the spec's FUSE mount", "fuse.mountPoint", strconv.FormatBool(s.FUSE != nil)))
	express(check.FieldDevices, "the spec's devices", "security.devices")
	for _, d := range s.Security.Devices {
		f.Add(check.FieldDevices, item("the spec's devices", "security.devices", d.Name, ""))
	}
	f.Add(check.FieldReadOnlyRoot, val("the spec's security.readOnlyRoot", "security.readOnlyRoot", strconv.FormatBool(s.Security.ReadOnlyRoot)))
	express(check.FieldVolumes, "the spec's volumes", "volumes")
	for _, v := range s.Volumes {
		kind := "tmpfs"
		if v.Persistent {
			kind = "persistent"
		}
		f.Add(check.FieldVolumes, item("the spec's volumes", "volumes."+v.Name, path.Clean(v.Path), kind))
	}
	f.Add(check.FieldWorkdir, val("the spec's image.workdir", "image.workdir", s.Image.Workdir))
	f.Add(check.FieldImage, val("the spec's image.ref", "image.ref", s.Image.Ref))
	f.Add(check.FieldReplicas, val("the spec's workload.replicas", "workload.replicas", strconv.Itoa(s.Workload.Replicas)))
	f.Add(check.FieldStopGrace, val("the spec's workload.stopGracePeriod", "workload.stopGracePeriod", check.Seconds(s.Workload.StopGracePeriod)))
	f.Add(check.FieldRestart, val("the spec's workload.restart", "workload.restart", s.Workload.Restart))
	express(check.FieldResources, "the spec's resources", "resources")
	for _, r := range []struct{ key, field, q string }{
		{"cpu.request", "resources.cpu.request", s.Resources.CPURequest},
		{"cpu.limit", "resources.cpu.limit", s.Resources.CPULimit},
		{"memory.request", "resources.memory.request", s.Resources.MemoryRequest},
		{"memory.limit", "resources.memory.limit", s.Resources.MemoryLimit},
	} {
		q, err := resource.ParseQuantity(r.q)
		if err != nil {
			continue // the spec's own checks refuse it
		}
		v := check.Memory(q)
		if r.key[:3] == "cpu" {
			v = check.CPU(q)
		}
		f.Add(check.FieldResources, item("the spec's resources", r.field, r.key, v))
	}
	return f
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// againstSpec holds an artifact's facts to the spec's, for an artifact
// that is the one the spec gives (a build): this proves the emitters, on
// every build, independently of them.
func (a *auditor) againstSpec(got *check.Facts) []check.Finding {
	if got == nil {
		return nil
	}
	var fs []check.Finding
	for _, d := range check.CompareFacts(got, SpecFacts(a.s)) {
		fs = append(fs, d.Finding(got, a.where))
	}
	return fs
}
