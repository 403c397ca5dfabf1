package live

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// e2e skips unless LIGHTHOUSE_E2E=1 (make e2e sets it): these tests build
// images and run containers for minutes.
func e2e(t *testing.T) {
	t.Helper()
	if os.Getenv("LIGHTHOUSE_E2E") != "1" {
		t.Skip("live test: run with LIGHTHOUSE_E2E=1 (make e2e)")
	}
}

// edit replaces old with new in the artifact name, failing the test when
// old is not there (an emitter change must not make the mutation a no-op).
func edit(name, old, new string) func(dir string) error {
	return func(dir string) error {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), old) {
			return &mutationError{name, old}
		}
		return os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o755)
	}
}

type mutationError struct{ file, old string }

func (e *mutationError) Error() string {
	return e.file + " no longer contains " + quoted(e.old)
}

func quoted(s string) string { return "\"" + strings.ReplaceAll(s, "\n", `\n`) + "\"" }

// TestLiveBroken proves each deliberately broken artifact fails at the
// step that should catch it, with a message naming the fault, and that
// the run leaves nothing behind.
func TestLiveBroken(t *testing.T) {
	e2e(t)
	// LIGHTHOUSE_E2E_MODULE builds the entry from another checkout (for
	// example a branch whose Bridge wiring has not reached this one).
	mod := os.Getenv("LIGHTHOUSE_E2E_MODULE")
	if mod == "" {
		var err error
		if mod, err = filepath.Abs("../.."); err != nil {
			t.Fatal(err)
		}
	}
	const entry = "exec /usr/local/bin/lighthouse-bridge serve\n"
	for _, tc := range []struct {
		name     string
		mutate   func(string) error
		timeout  time.Duration
		step     string
		messages []string
	}{
		{
			// The seed's worst case: a container that starts, answers its
			// health checks, and is not the Bridge at all.
			name: "impostor entry",
			mutate: edit("start.sh", entry, `mkdir -p /tmp/www && printf '{"status":"healthy"}' >/tmp/www/health && cp /tmp/www/health /tmp/www/status
exec httpd -f -p 8765 -h /tmp/www
`),
			step:     StepProcess,
			messages: []string{"PID 1 is [", "httpd", `but the spec's entry is ["/usr/local/bin/lighthouse-bridge", "serve"]`},
		},
		{
			// The right binary, but the start script forgets exec: the
			// shell is PID 1 and SIGTERM would never reach the Bridge.
			name:     "entry not exec'd",
			mutate:   edit("start.sh", entry, "/usr/local/bin/lighthouse-bridge serve\n"),
			step:     StepProcess,
			messages: []string{"PID 1 is [", "lighthouse-bridge-start", "2 processes run"},
		},
		{
			// One capability more than the spec declares.
			name:     "undeclared capability",
			mutate:   edit("compose.yaml", "    cap_add:\n    - SYS_ADMIN\n", "    cap_add:\n    - SYS_ADMIN\n    - NET_ADMIN\n"),
			step:     StepCapabilities,
			messages: []string{"effective capabilities (mask ", ") NET_ADMIN is not in the spec's capabilities", "the engine's cap_add NET_ADMIN is not in the spec's capabilities"},
		},
		{
			// The health check probes a port nothing listens on.
			name:     "health check on a wrong port",
			mutate:   edit("compose.yaml", "      - CMD\n      - /usr/local/bin/lighthouse-bridge\n", "      - CMD\n      - env\n      - LIGHTHOUSE_PORT=8766\n      - /usr/local/bin/lighthouse-bridge\n"),
			timeout:  45 * time.Second,
			step:     StepHealthy,
			messages: []string{"not healthy within 45s", "127.0.0.1:8766", "connection refused"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			rep := Run(ctx, Options{Module: mod, Mutate: tc.mutate, HealthTimeout: tc.timeout, FailFast: true, Progress: testWriter{t}})
			if rep.OK {
				t.Fatal("verify passed a broken artifact")
			}
			if rep.FailedStep != tc.step {
				t.Fatalf("failed at step %q, want %q: %v", rep.FailedStep, tc.step, rep.Err())
			}
			msg := rep.Err().Error()
			for _, m := range tc.messages {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
			assertNothingLeft(t, rep)
		})
	}
}

// assertNothingLeft asks Docker itself, not the report, for objects of
// the run's project or images.
func assertNothingLeft(t *testing.T, rep *Report) {
	t.Helper()
	last := rep.Steps[len(rep.Steps)-1]
	if last.Name != StepCleanup || last.Status != "ok" {
		t.Errorf("cleanup step: %+v", last)
	}
	label := "label=com.docker.compose.project=" + rep.Project
	for _, args := range [][]string{
		{"ps", "-aq", "--filter", label},
		{"network", "ls", "-q", "--filter", label},
		{"volume", "ls", "-q", "--filter", label},
		{"images", "-q", "--filter", "reference=" + rep.BaseImage},
		{"images", "-q", "--filter", "reference=" + rep.Image},
	} {
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %v: %v", args, err)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("docker %v: left behind %s", args, s)
		}
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
