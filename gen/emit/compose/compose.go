// Package compose emits the docker compose file of a service, built from
// compose-go's types (the model the compose CLI itself loads) so the
// output is a compose project, not text that resembles one.
package compose

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/emit/encode"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Emit returns compose.yaml for s. Every spec string is a compose value
// with its $ escaped as $$ (compose interpolates every value), or, in the
// ${NAME:?message} of a required variable, a message compose reads
// literally; a string that cannot be written as it is fails the emitter
// with encode.Errors.
func Emit(s *spec.Service, o emit.Options) ([]byte, error) {
	p, err := Project(s, o)
	if err != nil {
		return nil, err
	}
	y, err := p.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	// compose-go writes devices in the long syntax, which docker-compose
	// 1.x rejects; the short "source:target:permissions" form is read by
	// every compose implementation, so devices are added in that form.
	// go-yaml v2 reads compose-go's YAML and writes it back with sorted
	// keys, as sigs.k8s.io/yaml (which uses it) did through JSON; going
	// without the JSON spares a marshal and a parse.
	var doc map[any]any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	svc := doc["services"].(map[any]any)[s.Name].(map[any]any)
	if len(s.Security.Devices) > 0 {
		enc := &encode.Encoder{}
		var devs []string
		for _, d := range s.Security.Devices {
			p := enc.ComposeDevicePath(encode.Field("security", "devices", d.Name), d.Name)
			devs = append(devs, p+":"+p+":rwm")
		}
		if err := enc.Err(); err != nil {
			return nil, err
		}
		svc["devices"] = devs
	}
	// Labels are written as a list of key=value (no label key holds a
	// "="): compose-go, which docker compose loads files with, checks a
	// mapping's keys for duplicates pair by pair, so a mapping of n
	// labels takes time in n², a list time in n. Sorted by key, as the
	// mapping was. They are the project's, as Project encoded them
	// (values with $ written $$; keys hold no =), not read back through
	// YAML. A list item is a value, interpolated whole: a $ in its key is
	// written $$ too (a mapping's keys are not interpolated).
	if labels := p.Services[s.Name].Labels; len(labels) > 0 {
		list := make([]string, 0, len(labels))
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			list = append(list, strings.ReplaceAll(k, "$", "$$")+"="+labels[k])
		}
		svc["labels"] = list
	}
	y, err = yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return emit.AddHeader(y, o.Version, s.Source, s.Digest, false), nil
}

// Project converts s into a compose project with one service. Its
// strings are already encoded for compose (see Emit).
func Project(s *spec.Service, o emit.Options) (*types.Project, error) {
	enc := &encode.Encoder{}
	name := enc.Name("name", s.Name, "a compose service name")
	svc := types.ServiceConfig{Name: name, Restart: enc.ComposeValue("workload.restart", enc.Name("workload.restart", s.Workload.Restart, "compose's restart"))}
	svc.Image = enc.ComposeValue("image.ref", enc.Name("image.ref", s.Image.Ref, "compose's image"))
	svc.Build = &types.BuildConfig{
		Context:    enc.Outside("the build context (--context)", func(x *encode.Encoder) string { return x.ComposeValue("", o.ContextRoot) }),
		Dockerfile: enc.Outside("the output folder's path in the build context (--out)", func(x *encode.Encoder) string { return x.ComposeValue("", path.Join(o.ContextDir, emit.Dockerfile)) }),
	}
	svc.Environment = types.MappingWithEquals{}
	svc.CapDrop = []string{"ALL"}
	svc.ReadOnly = s.Security.ReadOnlyRoot
	svc.Privileged = s.Security.Privileged
	svc.StopGracePeriod = duration(s.Workload.StopGracePeriod)
	svc.Labels = types.Labels{}
	svc.SecurityOpt = []string{"no-new-privileges:true"}
	for k, v := range s.Labels {
		f := encode.Field("labels", k)
		if strings.Contains(k, "=") {
			// Emit writes the labels as key=value items.
			enc.Fail(f, k, "a compose label key, written key=value", "a = would end the key there, and compose would read the rest as the value")
			continue
		}
		svc.Labels[enc.Name(f, k, "a compose label key")] = enc.ComposeValue(f, v)
	}
	for _, p := range s.Ports {
		svc.Ports = append(svc.Ports, types.ServicePortConfig{
			Target: uint32(p.Number), Published: fmt.Sprint(p.Number),
			Protocol: enc.ComposeValue(encode.Field("ports", p.Name, "protocol"), enc.Name(encode.Field("ports", p.Name, "protocol"), strings.ToLower(p.Protocol), "a compose port's protocol")),
		})
	}
	for _, e := range s.Env {
		n := enc.EnvName(encode.Field("env", e.Name), e.Name)
		var v string
		switch {
		case e.Secret || (e.Required && !e.HasValue):
			// Never a literal: compose takes it from the operator's
			// environment (or --env-file) and refuses to start without it.
			v = fmt.Sprintf("${%s:?%s is required: %s}", n, n, enc.ComposeMessage(encode.Field("env", e.Name, "description"), e.Description))
		default:
			v = enc.ComposeValue(encode.Field("env", e.Name, "value"), e.Value)
		}
		svc.Environment[n] = &v
	}
	for _, c := range s.Security.Capabilities {
		f := encode.Field("security", "capabilities", c.Name)
		svc.CapAdd = append(svc.CapAdd, enc.ComposeValue(f, enc.Name(f, c.Name, "compose's cap_add")))
	}
	for _, d := range s.Security.Devices {
		p := enc.ComposeDevicePath(encode.Field("security", "devices", d.Name), enc.Name(encode.Field("security", "devices", d.Name), d.Name, "a compose device"))
		svc.Devices = append(svc.Devices, types.DeviceMapping{Source: p, Target: p, Permissions: "rwm"})
	}
	if s.FUSE != nil {
		// Docker's default AppArmor profile denies mount(2), which FUSE needs.
		svc.SecurityOpt = append(svc.SecurityOpt, "apparmor:unconfined")
	}
	volumes := types.Volumes{}
	for _, v := range s.Volumes {
		f := encode.Field("volumes", v.Name)
		target := enc.ComposeValue(f+".path", enc.AbsPath(f+".path", v.Path))
		if v.Persistent {
			vn := enc.ComposeValue(f, enc.Name(f, v.Name, "a compose volume's name"))
			svc.Volumes = append(svc.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeVolume, Source: vn, Target: target})
			volumes[vn] = types.VolumeConfig{}
			continue
		}
		t := types.ServiceVolumeConfig{Type: types.VolumeTypeTmpfs, Target: target}
		if v.Size != "" {
			q := quantity(enc, f+".size", v.Size, "a compose tmpfs size", false)
			t.Tmpfs = &types.ServiceVolumeTmpfs{Size: types.UnitBytes(q.Value())}
		}
		svc.Volumes = append(svc.Volumes, t)
	}
	h := s.Health
	retries := uint64(h.Retries)
	test := types.HealthCheckTest{"CMD", enc.ComposeValue("entry.binary", path.Join("/usr/local/bin", enc.FileName("entry.binary", s.Entry.Binary)))}
	for i, a := range s.Entry.Health {
		test = append(test, enc.ComposeValue(encode.Field("entry", "health", i), a))
	}
	svc.HealthCheck = &types.HealthCheckConfig{
		Test:        test,
		Interval:    duration(h.Interval),
		Timeout:     duration(h.Timeout),
		StartPeriod: duration(h.StartPeriod),
		Retries:     &retries,
	}
	limits := res(enc, "limit", s.Resources.CPULimit, s.Resources.MemoryLimit)
	reservations := res(enc, "request", s.Resources.CPURequest, s.Resources.MemoryRequest)
	svc.Deploy = &types.DeployConfig{Resources: types.Resources{Limits: limits, Reservations: reservations}}
	if err := enc.Err(); err != nil {
		return nil, err
	}

	p := &types.Project{Services: types.Services{name: svc}}
	if len(volumes) > 0 {
		p.Volumes = volumes
	}
	return p, nil
}

// res parses the CPU and memory quantities of resources.*.<which>; one
// that does not parse is refused, and so is one compose cannot hold: 0
// or less (compose leaves it out; a limit of 0 would be no limit at
// all), or more than its integer fields hold.
func res(enc *encode.Encoder, which, cpu, mem string) *types.Resource {
	c := quantity(enc, "resources.cpu."+which, cpu, "compose's deploy.resources", true)
	m := quantity(enc, "resources.memory."+which, mem, "compose's deploy.resources", false)
	return &types.Resource{NanoCPUs: types.NanoCPUs(float64(c.MilliValue()) / 1000), MemoryBytes: types.UnitBytes(m.Value())}
}

// quantity parses a quantity compose writes as a positive integer of
// bytes (or, milli, of thousandths of a CPU): one that does not parse,
// is not positive or does not fit an int64 is refused.
func quantity(enc *encode.Encoder, field, text, context string, milli bool) resource.Quantity {
	q, err := resource.ParseQuantity(text)
	if err != nil {
		enc.Fail(field, text, context, err.Error())
		return q
	}
	v, back := q.Value(), resource.NewQuantity(q.Value(), resource.DecimalSI)
	if milli {
		v, back = q.MilliValue(), resource.NewMilliQuantity(q.MilliValue(), resource.DecimalSI)
	}
	switch {
	case q.Sign() <= 0:
		enc.Fail(field, text, context, "compose leaves a quantity of 0 out (a limit of 0 would be no limit at all)")
	case v <= 0 || back.Cmp(q) < 0:
		enc.Fail(field, text, context, "it is more than compose's integer fields hold")
	}
	return q
}

func duration(d time.Duration) *types.Duration {
	x := types.Duration(d)
	return &x
}
