package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cueerrors "cuelang.org/go/cue/errors"

	"github.com/lighthouse-project/lighthouse/gen/build"
	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// The step names, in the order they run; a report's FailedStep is one of
// them, and tests of broken artifacts assert on it.
const (
	StepGenerate     = "generate"
	StepBaseImage    = "base-image"
	StepBinary       = "binary"
	StepImage        = "image"
	StepUp           = "up"
	StepHealthy      = "healthy"
	StepProcess      = "process"
	StepEndpoints    = "endpoints"
	StepUser         = "user"
	StepCapabilities = "capabilities"
	StepPorts        = "ports"
	StepEnv          = "env"
	StepEvents       = "events"
	StepFUSE         = "fuse"
	StepStop         = "stop"
	StepRestart      = "restart"
	StepCleanup      = "cleanup"
)

// Options configure one live verification.
type Options struct {
	// Spec is the spec folder; empty means the embedded bridge spec.
	Spec string
	// Tags are extra CUE tags. verify sets dockerfile_mode, runtime_base
	// and version itself (prebuilt mode, the local base, a unique tag).
	Tags []string
	// Module is the Go module the entry package is built from; empty
	// means the nearest folder holding go.mod above the working directory.
	Module string
	// Busybox is the static busybox put in the base image; empty means
	// the one on PATH.
	Busybox string
	// HealthTimeout bounds the wait for Docker to report the container
	// healthy; zero means the spec's start period plus (retries+1)
	// intervals plus one timeout, the longest Docker itself may take.
	HealthTimeout time.Duration
	// FailFast stops at the first failed step (after cleaning up); by
	// default only a failure that leaves nothing to check stops the run.
	FailFast bool
	// Mutate, when set, edits the generated artifacts in dir before
	// anything is built: the tests use it to prove that a broken artifact
	// fails at the step that should catch it.
	Mutate func(dir string) error
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Version is lighthouse-gen's version, stamped into the headers;
	// empty means "devel" (a header needs one).
	Version string
}

// Step is the outcome of one step.
type Step struct {
	Name       string `json:"name"`
	Status     string `json:"status"` // "ok", "failed" or "skipped"
	DurationMS int64  `json:"duration_ms"`
	Detail     string `json:"detail,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Report is the JSON report of a run.
type Report struct {
	Service    string `json:"service"`
	Project    string `json:"project"`
	Image      string `json:"image"`
	BaseImage  string `json:"base_image"`
	Compose    string `json:"compose"`
	OK         bool   `json:"ok"`
	FailedStep string `json:"failed_step,omitempty"`
	Steps      []Step `json:"steps"`
	// ImageBytes is the size of the built image (base included);
	// BaseImageBytes that of the busybox base alone, its floor.
	ImageBytes     int64 `json:"image_bytes"`
	BaseImageBytes int64 `json:"base_image_bytes"`
	// UpToReadyMS is from `up` to the readiness endpoint's first 200 on
	// the published port; UpToHealthyMS to Docker reporting healthy (its
	// first check runs one interval after start).
	UpToReadyMS   int64 `json:"up_to_ready_ms"`
	UpToHealthyMS int64 `json:"up_to_healthy_ms"`
	// StopMS is how long `stop` took (SIGTERM to exit).
	StopMS    int64    `json:"stop_ms"`
	Leftovers []string `json:"leftovers,omitempty"`
}

// Err summarises a failed report as one error naming the first failed
// step, nil when the run passed.
func (r *Report) Err() error {
	if r.OK {
		return nil
	}
	for _, s := range r.Steps {
		if s.Status == "failed" {
			return fmt.Errorf("verify --live failed at step %s: %s", s.Name, s.Error)
		}
	}
	return errors.New("verify --live failed")
}

// run is the state one verification carries from step to step.
type run struct {
	o         Options
	rep       *Report
	d         *docker
	s         *spec.Service
	dir       string // temporary build context; artifacts in dir/deploy
	out       string
	suffix    string
	base      string
	svc       string // compose service name
	proj      *project
	secrets   map[string]string
	cid       string
	baseURL   string // published address of the health port
	created   struct{ base, image, project bool }
	upAt      time.Time
	readyc    <-chan time.Duration // the readiness probe started with up
	stopProbe context.CancelFunc

	bridge *bridgeClient // nil when the service has no known API contract
}

type stepFunc struct {
	name  string
	fatal bool // a failure leaves nothing later steps could check
	fn    func(context.Context) (string, error)
}

// Run performs the live verification and always cleans up what it made.
// The report says which steps passed; Report.Err is the verdict.
func Run(ctx context.Context, o Options) *Report {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	r := &run{o: o, rep: &Report{}, suffix: randomHex(4)}
	r.rep.Project = "lhlive" + r.suffix
	r.base = "lighthouse-live-base:" + r.suffix
	r.rep.BaseImage = r.base
	steps := []stepFunc{
		{StepGenerate, true, r.generate},
		{StepBaseImage, true, r.baseImage},
		{StepBinary, true, r.binary},
		{StepImage, true, r.image},
		{StepUp, true, r.up},
		{StepHealthy, true, r.healthy},
		{StepProcess, false, r.process},
		{StepEndpoints, false, r.endpoints},
		{StepUser, false, r.user},
		{StepCapabilities, false, r.capabilities},
		{StepPorts, false, r.ports},
		{StepEnv, false, r.env},
		{StepEvents, false, r.events},
		{StepFUSE, false, r.fuse},
		{StepStop, true, r.stop},
		{StepRestart, false, r.restart},
	}
	n := len(steps) + 1
	stopped := false
	for i, st := range steps {
		if stopped || ctx.Err() != nil {
			r.record(i+1, n, Step{Name: st.name, Status: "skipped"})
			continue
		}
		start := time.Now()
		detail, err := st.fn(ctx)
		step := Step{Name: st.name, Status: "ok", DurationMS: time.Since(start).Milliseconds(), Detail: detail}
		if err != nil {
			step.Status, step.Error = "failed", err.Error()
			if ctx.Err() != nil {
				step.Error = "interrupted (" + err.Error() + "); cleaning up"
			}
			stopped = st.fatal || o.FailFast
		}
		r.record(i+1, n, step)
	}
	// Cleanup runs on its own context: an interrupted run still removes
	// what it made.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	start := time.Now()
	detail, err := r.cleanup(cctx)
	step := Step{Name: StepCleanup, Status: "ok", DurationMS: time.Since(start).Milliseconds(), Detail: detail}
	if err != nil {
		step.Status, step.Error = "failed", err.Error()
	}
	r.record(n, n, step)
	r.rep.OK = true
	for _, s := range r.rep.Steps {
		if s.Status == "failed" {
			r.rep.OK = false
			if r.rep.FailedStep == "" {
				r.rep.FailedStep = s.Name
			}
		}
	}
	return r.rep
}

func (r *run) record(i, n int, s Step) {
	r.rep.Steps = append(r.rep.Steps, s)
	line := fmt.Sprintf("live: [%2d/%d] %-12s %s", i, n, s.Name, s.Status)
	if s.Status != "skipped" {
		line += fmt.Sprintf(" (%.1fs)", float64(s.DurationMS)/1000)
	}
	if s.Detail != "" {
		line += ": " + s.Detail
	}
	if s.Error != "" {
		line += ": " + s.Error
	}
	fmt.Fprintln(r.o.Progress, line)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// generate writes the artifacts, with the tags that select the local base
// and prebuilt mode, into a fresh build context.
func (r *run) generate(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "lighthouse-live-")
	if err != nil {
		return "", err
	}
	r.dir, r.out = dir, filepath.Join(dir, "deploy")
	tags := append(slices.Clone(r.o.Tags),
		"dockerfile_mode=prebuilt", "runtime_base="+r.base, "version=live-"+r.suffix)
	s, files, err := build.Generate(build.Options{Spec: r.o.Spec, Tags: tags, Out: r.out, Version: r.o.Version})
	if err != nil {
		var ce cueerrors.Error
		if errors.As(err, &ce) {
			wd, _ := os.Getwd()
			msg := strings.TrimSpace(spec.Details(err, wd))
			if strings.Contains(msg, "no tag for") {
				msg += "\nverify --live selects prebuilt mode, the local base and a unique version with the tags dockerfile_mode, runtime_base and version: the spec must declare them (as cue/bridge does)"
			}
			return "", errors.New(msg)
		}
		return "", err
	}
	r.s = s
	r.rep.Service, r.rep.Image = s.Name, s.Image.Ref
	if err := build.Write(r.out, files); err != nil {
		return "", err
	}
	if r.o.Mutate != nil {
		if err := r.o.Mutate(r.out); err != nil {
			return "", fmt.Errorf("mutate artifacts: %w", err)
		}
	}
	var vars []string
	r.secrets = map[string]string{}
	for _, e := range s.Env {
		vars = append(vars, e.Name)
		if e.Secret {
			r.secrets[e.Name] = randomHex(32)
		}
	}
	if r.d, err = newDocker(ctx, vars); err != nil {
		return "", err
	}
	r.rep.Compose = strings.Join(r.d.compose, " ")
	// The env file holds only the secrets: everything else the compose
	// file states itself.
	var env strings.Builder
	for _, e := range s.Env {
		if v, ok := r.secrets[e.Name]; ok {
			fmt.Fprintf(&env, "%s=%s\n", e.Name, v)
		}
	}
	envFile := filepath.Join(dir, "live.env")
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		return "", err
	}
	composeFile := filepath.Join(r.out, emit.Compose)
	data, err := os.ReadFile(composeFile)
	if err != nil {
		return "", err
	}
	c, err := check.ParseCompose(ctx, composeFile, r.out, data, r.secrets)
	if err != nil {
		return "", err
	}
	if r.svc, _, err = c.Service(); err != nil {
		return "", err
	}
	r.proj = &project{d: r.d, name: r.rep.Project, file: composeFile, envFile: envFile}
	if s.Name == bridgeService {
		r.bridge = &bridgeClient{}
	}
	return fmt.Sprintf("%s in %s (prebuilt, FROM %s), service %s", strings.Join(emit.Names, ", "), r.out, r.base, r.svc), nil
}

func (r *run) baseImage(ctx context.Context) (string, error) {
	bb, err := findBusybox(r.o.Busybox)
	if err != nil {
		return "", err
	}
	r.created.base = true
	if err := r.d.importBase(ctx, r.base, bb); err != nil {
		return "", err
	}
	size, err := r.d.imageSize(ctx, r.base)
	if err != nil {
		return "", err
	}
	r.rep.BaseImageBytes = size
	return fmt.Sprintf("%s from %s, %.1f MB", r.base, bb, float64(size)/1e6), nil
}

// binary builds the entry package as the multi-stage Dockerfile would:
// static, CGO off, trimmed paths, stripped.
func (r *run) binary(ctx context.Context) (string, error) {
	mod := r.o.Module
	if mod == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		if mod, err = moduleRoot(wd); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(r.dir, "bin", r.s.Entry.Binary)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, r.s.Entry.Package)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %w: %s", r.s.Entry.Package, mod, err, tail(string(out), 1500))
	}
	if err := checkStatic(bin); err != nil {
		return "", err
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s from %s (static, %.1f MiB)", r.s.Entry.Package, mod, float64(fi.Size())/(1<<20)), nil
}

// moduleRoot is the nearest folder at or above dir holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod at or above %s: pass --module", dir)
		}
	}
}

// image builds the image through the generated compose file's build
// section, which names the generated Dockerfile.
func (r *run) image(ctx context.Context) (string, error) {
	r.created.image = true
	if _, err := r.proj.run(ctx, "build", r.svc); err != nil {
		return "", err
	}
	size, err := r.d.imageSize(ctx, r.s.Image.Ref)
	if err != nil {
		return "", fmt.Errorf("compose build did not produce the spec's image %s: %w", r.s.Image.Ref, err)
	}
	r.rep.ImageBytes = size
	return fmt.Sprintf("%s, %.1f MB", r.s.Image.Ref, float64(size)/1e6), nil
}

func (r *run) up(ctx context.Context) (string, error) {
	for _, p := range r.s.Ports {
		if p.Protocol != "TCP" {
			continue
		}
		// compose.yaml publishes the spec's ports on the host as they are:
		// a busy one would fail `up` with a less clear message.
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p.Number))
		if err != nil {
			return "", fmt.Errorf("host port %d, which compose.yaml publishes, is in use (another run or service?): %w", p.Number, err)
		}
		ln.Close()
	}
	hp, ok := r.s.Port(r.s.Health.Port)
	if !ok {
		return "", fmt.Errorf("spec: health port %q is not declared", r.s.Health.Port)
	}
	// compose.yaml publishes ports as the spec numbers them, so the
	// readiness probe can start before the container exists.
	r.baseURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(hp.Number))
	r.created.project = true
	r.upAt = time.Now()
	r.readyc, r.stopProbe = r.probeReady(ctx, r.upAt)
	if _, err := r.proj.run(ctx, "up", "-d", "--no-build"); err != nil {
		return "", err
	}
	id, err := r.proj.containerID(ctx, r.svc)
	if err != nil {
		return "", err
	}
	r.cid = id
	in, err := r.d.inspect(ctx, id)
	if err != nil {
		return "", err
	}
	binds := in.NetworkSettings.Ports[fmt.Sprintf("%d/tcp", hp.Number)]
	if len(binds) == 0 {
		return "", fmt.Errorf("the health port %d/tcp is not published", hp.Number)
	}
	host := binds[0].HostIP
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	r.baseURL = "http://" + net.JoinHostPort(host, binds[0].HostPort)
	return fmt.Sprintf("project %s, container %.12s, health port on %s", r.proj.name, id, r.baseURL), nil
}
