package script

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/gen/emit"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

// shells are the POSIX shells the start script must run under.
var shells = [][]string{{"dash"}, {"busybox", "sh"}}

func emitBridge(t *testing.T) (*spec.Service, string) {
	t.Helper()
	s, err := spec.Load(spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Emit(s, emit.Options{Version: "test", ContextRoot: "..", ContextDir: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "start.sh")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// run executes the script under a shell with exactly env and returns its
// exit code and stderr.
func run(t *testing.T, shell []string, script string, env []string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath(shell[0]); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed; .ci/run installs it: %v", shell[0], err)
		}
		t.Skipf("%s not installed (CI installs it): %v", shell[0], err)
	}
	cmd := exec.Command(shell[0], append(shell[1:], script)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

// TestMissingRequiredVariableIsNamed removes each required variable in
// turn: the script must stop and name it.
func TestMissingRequiredVariableIsNamed(t *testing.T) {
	s, script := emitBridge(t)
	dir := t.TempDir()
	full := map[string]string{
		"LIGHTHOUSE_EVENT_STORE_PATH": filepath.Join(dir, "events"),
		"LIGHTHOUSE_SNAPSHOT_PATH":    filepath.Join(dir, "snapshots"),
		"LIGHTHOUSE_AUTH_SECRET":      "0123456789abcdef0123456789abcdef",
	}
	for _, sh := range shells {
		for _, e := range s.Env {
			if !e.Required {
				continue
			}
			var env []string
			for k, v := range full {
				if k != e.Name {
					env = append(env, k+"="+v)
				}
			}
			code, stderr := run(t, sh, script, env)
			if code == 0 || !strings.Contains(stderr, e.Name+" is required") {
				t.Errorf("%s without %s: exit %d, stderr:\n%s", sh[0], e.Name, code, stderr)
			}
		}
	}
}

// TestSecretIsNeverLogged runs the script to its exec with every variable
// set: the configuration is logged, the secret's value is not, the
// directories are created, and the last step execs the entry binary.
func TestSecretIsNeverLogged(t *testing.T) {
	_, script := emitBridge(t)
	for _, sh := range shells {
		dir := t.TempDir()
		const secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"
		env := []string{
			"LIGHTHOUSE_EVENT_STORE_PATH=" + filepath.Join(dir, "events"),
			"LIGHTHOUSE_SNAPSHOT_PATH=" + filepath.Join(dir, "snapshots"),
			"LIGHTHOUSE_AUTH_SECRET=" + secret,
			"LIGHTHOUSE_MOUNT_POINT=", // no FUSE: skips the device check
			"LIGHTHOUSE_LOG_LEVEL=debug",
		}
		code, stderr := run(t, sh, script, env)
		if strings.Contains(stderr, secret) {
			t.Errorf("%s: the secret's value was logged:\n%s", sh[0], stderr)
		}
		for _, want := range []string{"LIGHTHOUSE_AUTH_SECRET=(secret, set)", "LIGHTHOUSE_LOG_LEVEL=debug", "/usr/local/bin/lighthouse-bridge"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", sh[0], want, stderr)
			}
		}
		if code == 0 {
			t.Errorf("%s: exec of a missing binary succeeded", sh[0])
		}
		for _, d := range []string{"events", "snapshots"} {
			if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
				t.Errorf("%s: directory %s not created: %v", sh[0], d, err)
			}
		}
	}
}

// TestFUSEMountPointChecked points the mount point at a path that cannot
// be created: the script must refuse to start and say why.
func TestFUSEMountPointChecked(t *testing.T) {
	_, script := emitBridge(t)
	if fi, err := os.Stat("/dev/fuse"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Skip("no /dev/fuse on this machine")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells {
		code, stderr := run(t, sh, script, []string{
			"LIGHTHOUSE_EVENT_STORE_PATH=" + filepath.Join(dir, "events"),
			"LIGHTHOUSE_SNAPSHOT_PATH=" + filepath.Join(dir, "snapshots"),
			"LIGHTHOUSE_AUTH_SECRET=x",
			"LIGHTHOUSE_MOUNT_POINT=" + filepath.Join(file, "mnt"),
		})
		if code == 0 || !strings.Contains(stderr, "mount point") {
			t.Errorf("%s: unusable mount point accepted: exit %d\n%s", sh[0], code, stderr)
		}
	}
}
