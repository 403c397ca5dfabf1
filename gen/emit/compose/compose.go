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
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// Emit returns compose.yaml for s.
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
		var devs []string
		for _, d := range s.Security.Devices {
			devs = append(devs, d.Name+":"+d.Name+":rwm")
		}
		svc["devices"] = devs
	}
	// Labels are written as a list of key=value (no label key holds a
	// "="): compose-go, which docker compose loads files with, checks a
	// mapping's keys for duplicates pair by pair, so a mapping of n
	// labels takes time in n², a list time in n. Sorted by key, as the
	// mapping was.
	if len(s.Labels) > 0 {
		labels := make([]string, 0, len(s.Labels))
		for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
			labels = append(labels, k+"="+s.Labels[k])
		}
		svc["labels"] = labels
	}
	y, err = yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return emit.AddHeader(y, o.Version, s.Source, s.Digest, false), nil
}

// Project converts s into a compose project with one service.
func Project(s *spec.Service, o emit.Options) (*types.Project, error) {
	svc := types.ServiceConfig{Name: s.Name, Restart: s.Workload.Restart}
	svc.Image = s.Image.Ref
	svc.Build = &types.BuildConfig{Context: o.ContextRoot, Dockerfile: path.Join(o.ContextDir, emit.Dockerfile)}
	svc.Environment = types.MappingWithEquals{}
	svc.CapDrop = []string{"ALL"}
	svc.ReadOnly = s.Security.ReadOnlyRoot
	svc.Privileged = s.Security.Privileged
	svc.StopGracePeriod = duration(s.Workload.StopGracePeriod)
	svc.Labels = types.Labels{}
	svc.SecurityOpt = []string{"no-new-privileges:true"}
	for k, v := range s.Labels {
		svc.Labels[k] = v
	}
	for _, p := range s.Ports {
		svc.Ports = append(svc.Ports, types.ServicePortConfig{
			Target: uint32(p.Number), Published: fmt.Sprint(p.Number), Protocol: strings.ToLower(p.Protocol),
		})
	}
	for _, e := range s.Env {
		var v string
		switch {
		case e.Secret || (e.Required && !e.HasValue):
			// Never a literal: compose takes it from the operator's
			// environment (or --env-file) and refuses to start without it.
			v = fmt.Sprintf("${%s:?%s is required: %s}", e.Name, e.Name, e.Description)
		default:
			v = strings.ReplaceAll(e.Value, "$", "$$")
		}
		svc.Environment[e.Name] = &v
	}
	for _, c := range s.Security.Capabilities {
		svc.CapAdd = append(svc.CapAdd, c.Name)
	}
	for _, d := range s.Security.Devices {
		svc.Devices = append(svc.Devices, types.DeviceMapping{Source: d.Name, Target: d.Name, Permissions: "rwm"})
	}
	if s.FUSE != nil {
		// Docker's default AppArmor profile denies mount(2), which FUSE needs.
		svc.SecurityOpt = append(svc.SecurityOpt, "apparmor:unconfined")
	}
	volumes := types.Volumes{}
	for _, v := range s.Volumes {
		if v.Persistent {
			svc.Volumes = append(svc.Volumes, types.ServiceVolumeConfig{Type: types.VolumeTypeVolume, Source: v.Name, Target: v.Path})
			volumes[v.Name] = types.VolumeConfig{}
			continue
		}
		t := types.ServiceVolumeConfig{Type: types.VolumeTypeTmpfs, Target: v.Path}
		if v.Size != "" {
			q, err := resource.ParseQuantity(v.Size)
			if err != nil {
				return nil, fmt.Errorf("volumes.%s.size: %w", v.Name, err)
			}
			t.Tmpfs = &types.ServiceVolumeTmpfs{Size: types.UnitBytes(q.Value())}
		}
		svc.Volumes = append(svc.Volumes, t)
	}
	h := s.Health
	retries := uint64(h.Retries)
	svc.HealthCheck = &types.HealthCheckConfig{
		Test:        append(types.HealthCheckTest{"CMD", path.Join("/usr/local/bin", s.Entry.Binary)}, s.Entry.Health...),
		Interval:    duration(h.Interval),
		Timeout:     duration(h.Timeout),
		StartPeriod: duration(h.StartPeriod),
		Retries:     &retries,
	}
	limits, err := res(s.Resources.CPULimit, s.Resources.MemoryLimit)
	if err != nil {
		return nil, err
	}
	reservations, err := res(s.Resources.CPURequest, s.Resources.MemoryRequest)
	if err != nil {
		return nil, err
	}
	svc.Deploy = &types.DeployConfig{Resources: types.Resources{Limits: limits, Reservations: reservations}}

	p := &types.Project{Services: types.Services{s.Name: svc}}
	if len(volumes) > 0 {
		p.Volumes = volumes
	}
	return p, nil
}

func res(cpu, mem string) (*types.Resource, error) {
	c, err := resource.ParseQuantity(cpu)
	if err != nil {
		return nil, fmt.Errorf("cpu %q: %w", cpu, err)
	}
	m, err := resource.ParseQuantity(mem)
	if err != nil {
		return nil, fmt.Errorf("memory %q: %w", mem, err)
	}
	return &types.Resource{NanoCPUs: types.NanoCPUs(float64(c.MilliValue()) / 1000), MemoryBytes: types.UnitBytes(m.Value())}, nil
}

func duration(d time.Duration) *types.Duration {
	x := types.Duration(d)
	return &x
}
