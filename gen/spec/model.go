package spec

import (
	"path/filepath"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/token"
)

// Service is the typed model of one validated spec. Emitters read only
// this; lists keep the order of the spec so output follows the author's
// reading order, and every element keeps its CUE position.
type Service struct {
	Name        string
	Description string
	Entry       Entry
	Image       Image
	Ports       []Port
	Health      Health
	Env         []EnvVar
	Volumes     []Volume
	// FUSE is nil when the spec declares no FUSE mount.
	FUSE       *FUSE
	Security   Security
	Resources  Resources
	Workload   Workload
	Kubernetes Kubernetes
	Labels     map[string]string
	// Omit maps a spec field path ("workload.restart") to the targets
	// ("dockerfile", "script", "compose", "kubernetes") that leave it out,
	// each with the spec's reason.
	Omit map[string]map[string]string

	// Source names the spec in generated headers (its service name, so
	// the header does not depend on where the spec was loaded from).
	Source string
	// Digest is the hex SHA-256 of the spec's canonical JSON (the
	// unified, concrete value), stamped into every generated header.
	Digest string
	// JSON is that canonical JSON.
	JSON []byte

	value cue.Value // the spec unified with #Service
	// unified, when set (Load's fast path), unifies the spec with
	// #Service again for Pos: the fast path's value holds the same
	// fields, but CUE reports other positions for some of them (the
	// value's where the full unification gives the field's).
	unified func() cue.Value
	specDir string // the directory of the spec's files
}

// Entry is the Go main package and how the start script runs it.
type Entry struct {
	Package string
	Binary  string
	Args    []string
	// Health is the binary's health subcommand (Docker and compose).
	Health []string
}

// Image describes how the container image is built.
type Image struct {
	Ref        string
	Builder    string
	Runtime    string
	Mode       string // "multistage" or "prebuilt"
	UID, GID   int
	RootReason string
	Workdir    string
	Labels     map[string]string
	// Forbid is what must never be in the image (the seed shipped curl and
	// an MCP server nobody ran).
	Forbid Forbid
}

// Forbid lists binaries (by file name) and Go modules (by module path
// prefix) that must not be in the image.
type Forbid struct {
	Binaries  []string
	GoModules []string
}

// Port is one named listening port.
type Port struct {
	Name     string
	Number   int
	Protocol string // "TCP" or "UDP"
	Pos      token.Pos
}

// Health is the one health specification all targets derive from.
type Health struct {
	Port        string
	Liveness    string
	Readiness   string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

// EnvVar is one environment variable the service reads.
type EnvVar struct {
	Name        string
	Description string
	Required    bool
	Secret      bool
	// Path marks a directory the service writes; it lies under a volume.
	Path bool
	// Value is the default; HasValue distinguishes "" from no value.
	Value    string
	HasValue bool
	Pos      token.Pos
}

// Volume is one writable path.
type Volume struct {
	Name       string
	Path       string
	Persistent bool // false: tmpfs
	Size       string
	Pos        token.Pos
}

// FUSE is a declared FUSE mount.
type FUSE struct {
	MountPoint string
}

// Security holds the privileges the spec asks for, each with a reason.
type Security struct {
	Capabilities     []Grant // capability names without CAP_
	Devices          []Grant // device paths
	Privileged       bool
	PrivilegedReason string
	ReadOnlyRoot     bool
}

// Grant is a privilege and why it is needed.
type Grant struct {
	Name   string
	Reason string
	Pos    token.Pos
}

// Resources are requests and limits as Kubernetes quantities.
type Resources struct {
	CPURequest, CPULimit       string
	MemoryRequest, MemoryLimit string
}

// Workload is how the service is run.
type Workload struct {
	Kind            string
	Replicas        int
	StopGracePeriod time.Duration
	Restart         string
}

// Kubernetes holds choices only Kubernetes needs.
type Kubernetes struct {
	// FUSEDevice is "device-plugin" or "privileged".
	FUSEDevice   string
	FUSEResource string
}

// Pos returns the position of a field of the spec, given as a CUE path
// such as "env.LIGHTHOUSE_PORT.value": where the author wrote it if the
// spec sets it, else where the schema defines it.
func (s *Service) Pos(path string) token.Pos {
	p := cue.ParsePath(path)
	if p.Err() != nil {
		return token.NoPos
	}
	v := s.value
	if s.unified != nil {
		v = s.unified()
	}
	v = v.LookupPath(p)
	if pos, ok := posIn(v, s.specDir, 0); ok {
		return pos
	}
	return v.Pos()
}

// valuePos is Pos for a value already looked up.
func (s *Service) valuePos(v cue.Value) token.Pos {
	if pos, ok := posIn(v, s.specDir, 0); ok {
		return pos
	}
	return v.Pos()
}

// posIn finds, among the conjuncts of v, one written in a file of dir.
func posIn(v cue.Value, dir string, depth int) (token.Pos, bool) {
	if pos := v.Pos(); pos.IsValid() && filepath.Dir(pos.Filename()) == dir {
		return pos, true
	}
	if depth > 4 {
		return token.NoPos, false
	}
	op, args := v.Expr()
	if op != cue.AndOp && op != cue.OrOp {
		return token.NoPos, false
	}
	for _, a := range args {
		if pos, ok := posIn(a, dir, depth+1); ok {
			return pos, true
		}
	}
	return token.NoPos, false
}

// Port returns the declared port with the given name.
func (s *Service) Port(name string) (Port, bool) {
	for _, p := range s.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// EnvNames returns the names of every declared variable, in spec order;
// the bridge's contract test compares them with what its code reads.
func (s *Service) EnvNames() []string {
	names := make([]string, len(s.Env))
	for i, e := range s.Env {
		names[i] = e.Name
	}
	return names
}
