package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/token"
	"k8s.io/apimachinery/pkg/api/resource"

	cuemod "github.com/lighthouse-project/lighthouse/cue"
)

// EmbeddedRoot is the virtual directory the embedded CUE module is mounted
// at (through a load overlay); positions in the embedded spec show it.
const EmbeddedRoot = "/lighthouse-embedded/cue"

// Options selects the spec to load.
type Options struct {
	// Dir is the spec folder (one CUE package). Empty loads the embedded
	// bridge spec. A folder outside the CUE module does not import the
	// schema: the loader unifies it with #Service itself.
	Dir string
	// Tags are CUE tags, "key=value", injected like `cue -t`.
	Tags []string
}

// Load reads, unifies, validates and decodes a spec. Its error is a CUE
// error list (cuelang.org/go/cue/errors) holding every problem found,
// each with a position; print it with errors.Details.
func Load(o Options) (*Service, error) {
	ctx := cuecontext.New()
	overlay, err := embeddedOverlay()
	if err != nil {
		return nil, err
	}
	embedded := &load.Config{Dir: EmbeddedRoot, ModuleRoot: EmbeddedRoot, Overlay: overlay, Tags: o.Tags}
	var schema, sv cue.Value
	var dir string
	if o.Dir == "" {
		// One load for both packages: the spec imports the schema, so
		// it is parsed once.
		vals, err := buildInstances(ctx, embedded, "./"+cuemod.SchemaDir, "./"+cuemod.BridgeDir)
		if err != nil {
			return nil, err
		}
		schema, sv, dir = vals[0], vals[1], EmbeddedRoot+"/"+cuemod.BridgeDir
	} else {
		embedded.Tags = nil
		vals, err := buildInstances(ctx, embedded, "./"+cuemod.SchemaDir)
		if err != nil {
			return nil, err
		}
		schema = vals[0]
		if dir, err = filepath.Abs(o.Dir); err != nil {
			return nil, err
		}
		vals, err = buildInstances(ctx, &load.Config{Dir: dir, Tags: o.Tags}, ".")
		if err != nil {
			return nil, err
		}
		sv = vals[0]
	}
	def := schema.LookupPath(cue.ParsePath("#Service"))
	if !def.Exists() {
		return nil, fmt.Errorf("embedded schema has no #Service")
	}
	v := def.Unify(sv)
	if err := v.Validate(cue.Concrete(true), cue.Hidden(true)); err != nil {
		return nil, annotate(err, v, dir)
	}
	return decode(v, dir)
}

func embeddedOverlay() (map[string]load.Source, error) {
	ov := map[string]load.Source{}
	err := fs.WalkDir(cuemod.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(cuemod.FS, p)
		if err != nil {
			return err
		}
		ov[path.Join(EmbeddedRoot, p)] = load.FromBytes(b)
		return nil
	})
	return ov, err
}

// buildInstances loads and builds the packages named by args, in order.
func buildInstances(ctx *cue.Context, cfg *load.Config, args ...string) ([]cue.Value, error) {
	insts := load.Instances(args, cfg)
	if len(insts) != len(args) {
		return nil, fmt.Errorf("spec %s: expected %d CUE packages, found %d", cfg.Dir, len(args), len(insts))
	}
	for _, inst := range insts {
		if inst.Err != nil {
			return nil, inst.Err
		}
	}
	vals, err := ctx.BuildInstances(insts)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// decode turns the validated value into the model and runs the checks CUE
// cannot express (quantity arithmetic), reporting them at spec positions.
func decode(v cue.Value, dir string) (*Service, error) {
	var raw struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Entry       Entry  `json:"-"`
		Image       struct {
			Ref, Builder, Runtime, Mode, Workdir string
			User                                 struct {
				UID        int    `json:"uid"`
				GID        int    `json:"gid"`
				RootReason string `json:"rootReason"`
			}
			Labels map[string]string
			Forbid struct {
				Binaries  []string `json:"binaries"`
				GoModules []string `json:"goModules"`
			} `json:"forbid"`
		} `json:"image"`
		Health struct {
			Port, Liveness, Readiness, Interval, Timeout, StartPeriod string
			Retries                                                   int
		} `json:"health"`
		Fuse *struct {
			MountPoint string `json:"mountPoint"`
		} `json:"fuse"`
		Security struct {
			Privileged       bool   `json:"privileged"`
			PrivilegedReason string `json:"privilegedReason"`
			ReadOnlyRoot     bool   `json:"readOnlyRoot"`
		} `json:"security"`
		Resources struct {
			CPU    struct{ Request, Limit string } `json:"cpu"`
			Memory struct{ Request, Limit string } `json:"memory"`
		} `json:"resources"`
		Workload struct {
			Kind            string `json:"kind"`
			Replicas        int    `json:"replicas"`
			StopGracePeriod string `json:"stopGracePeriod"`
			Restart         string `json:"restart"`
		} `json:"workload"`
		Kubernetes struct {
			FuseDevice   string `json:"fuseDevice"`
			FuseResource string `json:"fuseResource"`
		} `json:"kubernetes"`
		Labels map[string]string            `json:"labels"`
		Omit   map[string]map[string]string `json:"omit"`
	}
	if err := v.Decode(&raw); err != nil {
		return nil, err
	}
	var entry struct {
		Package, Binary string
		Args, Health    []string
	}
	if err := v.LookupPath(cue.ParsePath("entry")).Decode(&entry); err != nil {
		return nil, err
	}
	js, err := v.MarshalJSON()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(js)

	s := &Service{
		Name:        raw.Name,
		Description: raw.Description,
		Entry:       Entry{Package: entry.Package, Binary: entry.Binary, Args: entry.Args, Health: entry.Health},
		Image: Image{
			Ref: raw.Image.Ref, Builder: raw.Image.Builder, Runtime: raw.Image.Runtime, Mode: raw.Image.Mode,
			UID: raw.Image.User.UID, GID: raw.Image.User.GID, RootReason: raw.Image.User.RootReason,
			Workdir: raw.Image.Workdir, Labels: raw.Image.Labels,
			Forbid: Forbid{Binaries: raw.Image.Forbid.Binaries, GoModules: raw.Image.Forbid.GoModules},
		},
		Security: Security{
			Privileged: raw.Security.Privileged, PrivilegedReason: raw.Security.PrivilegedReason,
			ReadOnlyRoot: raw.Security.ReadOnlyRoot,
		},
		Resources: Resources{
			CPURequest: raw.Resources.CPU.Request, CPULimit: raw.Resources.CPU.Limit,
			MemoryRequest: raw.Resources.Memory.Request, MemoryLimit: raw.Resources.Memory.Limit,
		},
		Workload:   Workload{Kind: raw.Workload.Kind, Replicas: raw.Workload.Replicas, Restart: raw.Workload.Restart},
		Kubernetes: Kubernetes{FUSEDevice: raw.Kubernetes.FuseDevice, FUSEResource: raw.Kubernetes.FuseResource},
		Labels:     raw.Labels,
		Omit:       raw.Omit,
		Source:     raw.Name,
		Digest:     hex.EncodeToString(sum[:]),
		JSON:       js,
		value:      v,
		specDir:    dir,
	}
	if raw.Fuse != nil {
		s.FUSE = &FUSE{MountPoint: raw.Fuse.MountPoint}
	}
	var errs errors.Error
	dur := func(field, text string) time.Duration {
		d, err := time.ParseDuration(text)
		if err != nil {
			errs = errors.Append(errs, errors.Newf(s.Pos(field), "%s: %v", field, err))
		}
		return d
	}
	h := raw.Health
	s.Health = Health{
		Port: h.Port, Liveness: h.Liveness, Readiness: h.Readiness, Retries: h.Retries,
		Interval: dur("health.interval", h.Interval), Timeout: dur("health.timeout", h.Timeout),
		StartPeriod: dur("health.startPeriod", h.StartPeriod),
	}
	s.Workload.StopGracePeriod = dur("workload.stopGracePeriod", raw.Workload.StopGracePeriod)

	err = fields(v, "ports", func(name string, fv cue.Value) error {
		var p struct {
			Number   int    `json:"number"`
			Protocol string `json:"protocol"`
		}
		err := fv.Decode(&p)
		s.Ports = append(s.Ports, Port{Name: name, Number: p.Number, Protocol: p.Protocol, Pos: s.valuePos(fv)})
		return err
	})
	errs = appendErr(errs, err, "ports")
	err = fields(v, "env", func(name string, fv cue.Value) error {
		var e struct {
			Description string
			Required    bool
			Secret      bool
			Path        bool
			Value       *string
		}
		err := fv.Decode(&e)
		ev := EnvVar{Name: name, Description: e.Description, Required: e.Required, Secret: e.Secret,
			Path: e.Path, Pos: s.valuePos(fv)}
		if e.Value != nil {
			ev.Value, ev.HasValue = *e.Value, true
		}
		s.Env = append(s.Env, ev)
		return err
	})
	errs = appendErr(errs, err, "env")
	err = fields(v, "volumes", func(name string, fv cue.Value) error {
		var vol struct{ Path, Kind, Size string }
		err := fv.Decode(&vol)
		s.Volumes = append(s.Volumes, Volume{Name: name, Path: vol.Path, Persistent: vol.Kind == "persistent",
			Size: vol.Size, Pos: s.valuePos(fv)})
		return err
	})
	errs = appendErr(errs, err, "volumes")
	for _, g := range []struct {
		field string
		dst   *[]Grant
	}{{"security.capabilities", &s.Security.Capabilities}, {"security.devices", &s.Security.Devices}} {
		err = fields(v, g.field, func(name string, fv cue.Value) error {
			var r struct{ Reason string }
			err := fv.Decode(&r)
			*g.dst = append(*g.dst, Grant{Name: name, Reason: r.Reason, Pos: s.valuePos(fv)})
			return err
		})
		errs = appendErr(errs, err, g.field)
	}
	errs = errors.Append(errs, s.check())
	if errs != nil {
		return nil, errs
	}
	return s, nil
}

// check runs the rules CUE cannot express: quantity parsing with the
// upstream Kubernetes parser and limits ≥ requests.
func (s *Service) check() errors.Error {
	var errs errors.Error
	quantity := func(field, text string) (resource.Quantity, bool) {
		q, err := resource.ParseQuantity(text)
		if err != nil {
			errs = errors.Append(errs, errors.Newf(s.Pos(field), "%s: %q is not a Kubernetes quantity: %v", field, text, err))
			return q, false
		}
		return q, true
	}
	pair := func(kind, req, lim string) {
		rq, ok1 := quantity("resources."+kind+".request", req)
		lq, ok2 := quantity("resources."+kind+".limit", lim)
		if ok1 && ok2 && lq.Cmp(rq) < 0 {
			errs = errors.Append(errs, errors.Newf(s.Pos("resources."+kind+".limit"),
				"resources.%s: limit %s is below request %s", kind, lim, req))
		}
	}
	pair("cpu", s.Resources.CPURequest, s.Resources.CPULimit)
	pair("memory", s.Resources.MemoryRequest, s.Resources.MemoryLimit)
	seen := map[string]string{}
	for _, v := range s.Volumes {
		if v.Size != "" {
			quantity("volumes."+v.Name+".size", v.Size)
		}
		if other, dup := seen[v.Path]; dup {
			errs = errors.Append(errs, errors.Newf(s.Pos("volumes."+v.Name+".path"),
				"volumes.%s: path %s is already volume %s", v.Name, v.Path, other))
		}
		seen[v.Path] = v.Name
	}
	if s.FUSE != nil {
		for _, v := range s.Volumes {
			if s.FUSE.MountPoint == v.Path || strings.HasPrefix(s.FUSE.MountPoint, v.Path+"/") {
				errs = errors.Append(errs, errors.Newf(s.Pos("fuse.mountPoint"),
					"fuse.mountPoint %s lies in volume %s: a FUSE mount needs its own directory", s.FUSE.MountPoint, v.Name))
			}
		}
	}
	return errs
}

// fields calls fn for every regular field of the struct at path, in order.
func fields(v cue.Value, p string, fn func(name string, fv cue.Value) error) error {
	iter, err := v.LookupPath(cue.ParsePath(p)).Fields()
	if err != nil {
		return err
	}
	for iter.Next() {
		if err := fn(iter.Selector().Unquoted(), iter.Value()); err != nil {
			return err
		}
	}
	return nil
}

// quoteLabel quotes a field label for cue.ParsePath when it is not an
// identifier (device paths such as "/dev/fuse").
func quoteLabel(name string) string {
	if token.Lookup(name) == token.IDENT && !strings.ContainsAny(name, "/.-") {
		return name
	}
	return fmt.Sprintf("%q", name)
}

func appendErr(errs errors.Error, err error, field string) errors.Error {
	if err == nil {
		return errs
	}
	return errors.Append(errs, errors.Promote(err, field))
}
