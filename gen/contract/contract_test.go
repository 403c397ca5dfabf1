package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/server"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// root is the module root, where the spec's entry.package is resolved.
const root = "../.."

func bridgeSpec(t *testing.T) *spec.Service {
	t.Helper()
	s, err := spec.Load(spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEnvDeclaredIsEnvRead: the spec's env names are exactly the variables
// the bridge reads. Read is observed, not declared: config.Load is run
// with a getenv that records every name it is asked for, and the declared
// list config.Variables must agree with it too.
func TestEnvDeclaredIsEnvRead(t *testing.T) {
	s := bridgeSpec(t)
	declared := slices.Sorted(slices.Values(s.EnvNames()))
	asked := map[string]bool{}
	record := func(name string) string { asked[name] = true; return "" }
	config.Load(record) // fails (nothing is set); it still asks for every variable
	read := slices.Sorted(maps.Keys(asked))
	if d := cmp.Diff(declared, read); d != "" {
		t.Errorf("spec env (-) versus variables config.Load reads (+):\n%s", d)
	}
	if d := cmp.Diff(declared, slices.Sorted(slices.Values(config.Variables()))); d != "" {
		t.Errorf("spec env (-) versus config.Variables (+):\n%s", d)
	}
}

// TestEnvDefaultsAgree: the spec's values of the optional variables are
// the bridge's own defaults, and its port is the one the bridge listens on
// without configuration; otherwise the artifacts and a bare binary would
// run differently.
func TestEnvDefaultsAgree(t *testing.T) {
	s := bridgeSpec(t)
	want := map[string]string{
		config.EnvHost:     config.DefaultHost,
		config.EnvPort:     strconv.Itoa(config.DefaultPort),
		config.EnvLogLevel: config.DefaultLogLevel,

		config.EnvShadowMaxFileBytes:  strconv.Itoa(config.DefaultShadowMaxFileBytes),
		config.EnvShadowMaxTotalBytes: strconv.Itoa(config.DefaultShadowMaxTotalBytes),
	}
	for _, e := range s.Env {
		if w, ok := want[e.Name]; ok && e.Value != w {
			t.Errorf("spec %s = %q, bridge default %q", e.Name, e.Value, w)
		}
		if e.Name == config.EnvAuthSecret && (!e.Secret || e.HasValue) {
			t.Errorf("%s must be a secret without a value in the spec", e.Name)
		}
	}
	// The limits: the spec's values, read as the binary reads them, are
	// the binary's defaults.
	specEnv := map[string]string{}
	for _, e := range s.Env {
		specEnv[e.Name] = e.Value
	}
	lim, errs := config.LoadLimits(func(k string) string { return specEnv[k] })
	if len(errs) > 0 {
		t.Errorf("the spec's limits do not load: %v", errs)
	}
	if d := cmp.Diff(config.DefaultLimits(), lim); d != "" {
		t.Errorf("the binary's default limits (-) versus the spec's (+):\n%s", d)
	}
	for _, name := range config.Variables() {
		if strings.HasPrefix(name, "LIGHTHOUSE_MAX_") || strings.HasSuffix(name, "_TIMEOUT") {
			if _, ok := specEnv[name]; !ok || specEnv[name] == "" {
				t.Errorf("spec gives limit %s no value: state the default the artifacts carry", name)
			}
		}
	}
	if p, ok := s.Port(s.Health.Port); !ok || p.Number != config.DefaultPort {
		t.Errorf("spec health port %s = %d, bridge default port %d", s.Health.Port, p.Number, config.DefaultPort)
	}
}

// TestOnlyConfigReadsTheEnvironment: no bridge code reads the process
// environment except through the getenv that main hands to config, so
// the observed list above is the whole list.
func TestOnlyConfigReadsTheEnvironment(t *testing.T) {
	readers := map[string]bool{"Getenv": true, "LookupEnv": true, "Environ": true, "ExpandEnv": true}
	allowed := filepath.Join(root, "cmd", "lighthouse-bridge", "main.go")
	n := 0
	for _, dir := range []string{filepath.Join(root, "bridge"), filepath.Join(root, "cmd", "lighthouse-bridge")} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			n++
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(node ast.Node) bool {
				sel, ok := node.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); ok && (pkg.Name == "os" || pkg.Name == "syscall") && readers[sel.Sel.Name] && p != allowed {
					t.Errorf("%s reads the environment with %s.%s: only config may, through getenv", p, pkg.Name, sel.Sel.Name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 10 {
		t.Fatalf("scanned %d files: the bridge's sources were not found", n)
	}
}

// startBridge runs the bridge in-process with the spec's variables (paths
// in a temporary folder, a fresh random secret, FUSE disabled) on a free
// local port, and returns its base URL once it accepts connections.
func startBridge(t *testing.T, s *spec.Service) (base string, env map[string]string) {
	t.Helper()
	dir := t.TempDir()
	secret := make([]byte, 32)
	rand.Read(secret)
	env = map[string]string{}
	for _, e := range s.Env {
		env[e.Name] = e.Value
	}
	env[config.EnvHost] = "127.0.0.1"
	env[config.EnvEventStorePath] = filepath.Join(dir, "events")
	env[config.EnvSnapshotPath] = filepath.Join(dir, "snapshots")
	env[config.EnvMountPoint] = "" // the FUSE view is another part's; empty disables it
	env[config.EnvAuthSecret] = hex.EncodeToString(secret)
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	b, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	env[config.EnvPort] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	return "http://" + ln.Addr().String(), env
}

// get polls url until it answers 200 or the deadline passes.
func get(t *testing.T, url string) int {
	t.Helper()
	code := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if code = resp.StatusCode; code == http.StatusOK {
			break
		}
	}
	return code
}

// TestHealthPathsServed: the spec's liveness and readiness paths answer
// 200 once the bridge is up, and a path the spec does not declare does not
// (so the test can fail).
func TestHealthPathsServed(t *testing.T) {
	s := bridgeSpec(t)
	base, _ := startBridge(t, s)
	for _, p := range []string{s.Health.Liveness, s.Health.Readiness} {
		if code := get(t, base+p); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, code)
		}
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("GET /healthz = 200: the probe above proves nothing")
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// entryBinary builds the spec's entry.package as its entry.binary, once.
func entryBinary(t *testing.T, s *spec.Service) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "contract-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, s.Entry.Binary)
		cmd := exec.Command("go", "build", "-o", binPath, s.Entry.Package)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build %s: %v\n%s", s.Entry.Package, err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestEntrySubcommands: the entry package builds, and the subcommands the
// artifacts run (entry.args from the start script, entry.health from the
// health checks) exist in its command tree.
func TestEntrySubcommands(t *testing.T) {
	s := bridgeSpec(t)
	bin := entryBinary(t, s)
	for _, args := range [][]string{s.Entry.Args, s.Entry.Health, {"no-such-subcommand"}} {
		out, err := exec.Command(bin, append(slices.Clone(args), "--help")...).CombinedOutput()
		usage := "Usage:\n  " + strings.Join(append([]string{s.Entry.Binary}, args...), " ")
		has := err == nil && strings.Contains(string(out), usage)
		if want := args[0] != "no-such-subcommand"; has != want {
			t.Errorf("%s %s --help: has the subcommand = %t, want %t (err %v)\n%s", s.Entry.Binary, strings.Join(args, " "), has, want, err, out)
		}
	}
}

// TestHealthSubcommandProbesTheServer: the Docker and compose health check
// (entry.health, run as a process with the spec's variables) exits 0
// against a running bridge, and fails when nothing listens.
func TestHealthSubcommandProbesTheServer(t *testing.T) {
	s := bridgeSpec(t)
	bin := entryBinary(t, s)
	base, env := startBridge(t, s)
	if code := get(t, base+s.Health.Readiness); code != http.StatusOK {
		t.Fatalf("bridge not ready: %d", code)
	}
	run := func(env map[string]string) error {
		cmd := exec.Command(bin, s.Entry.Health...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := run(env); err != nil {
		t.Errorf("%s %v against the running bridge: %v", s.Entry.Binary, s.Entry.Health, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	if err := run(map[string]string{config.EnvHost: "127.0.0.1", config.EnvPort: free}); err == nil {
		t.Errorf("health check passed with nothing listening on port %s", free)
	}
}
