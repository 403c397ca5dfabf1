package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// docker runs the Docker and compose command-line clients. The CLIs are the
// interface the generated artifacts promise to work with, so the checks
// drive them rather than the engine's API.
type docker struct {
	// compose is the compose command: "docker compose" when the plugin
	// answers, else "docker-compose".
	compose []string
	// env is the environment of every command: the caller's, without the
	// service's own variables, so the generated env file is the only
	// source of the secret (a shell variable would silently win).
	env []string
}

func newDocker(ctx context.Context, serviceVars []string) (*docker, error) {
	d := &docker{}
	drop := map[string]bool{}
	for _, v := range serviceVars {
		drop[v] = true
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			d.env = append(d.env, kv)
		}
	}
	if _, err := d.run(ctx, nil, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		return nil, fmt.Errorf("no Docker engine answers: %w", err)
	}
	if _, err := d.run(ctx, nil, "docker", "compose", "version"); err == nil {
		d.compose = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		d.compose = []string{"docker-compose"}
	} else {
		return nil, fmt.Errorf("neither the docker compose plugin nor docker-compose is installed")
	}
	return d, nil
}

// run executes name args, feeding stdin if not nil, and returns stdout. A
// failure carries the command line and the end of its stderr.
func (d *docker) run(ctx context.Context, stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.env
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(errb.String(), 1500))
	}
	return out.Bytes(), nil
}

// tail keeps the last n bytes of s, trimmed, so error messages stay
// readable but keep the part that says what went wrong.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// project is one compose project: a unique name, the generated file and
// the generated env file.
type project struct {
	d       *docker
	name    string
	file    string
	envFile string
}

func (p *project) run(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{}, p.d.compose[1:]...)
	full = append(full, "-p", p.name, "-f", p.file, "--env-file", p.envFile)
	full = append(full, args...)
	return p.d.run(ctx, nil, p.d.compose[0], full...)
}

// containerID returns the id of the service's container.
func (p *project) containerID(ctx context.Context, service string) (string, error) {
	out, err := p.run(ctx, "ps", "-q", service)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(out))
	if id == "" || strings.Contains(id, "\n") {
		return "", fmt.Errorf("compose ps -q %s: want one container, got %q", service, id)
	}
	return id, nil
}

// exec runs a command in the container and returns its stdout.
func (d *docker) exec(ctx context.Context, id string, args ...string) ([]byte, error) {
	return d.run(ctx, nil, "docker", append([]string{"exec", id}, args...)...)
}

// containerState is the part of `docker inspect` the health wait reads.
type containerState struct {
	Status     string
	Running    bool
	Restarting bool
	ExitCode   int
	Error      string
	StartedAt  string
	FinishedAt string
	OOMKilled  bool
	Health     *healthState
}

type healthState struct {
	Status        string
	FailingStreak int
	Log           []struct {
		ExitCode int
		Output   string
	}
}

// inspect is the part of `docker inspect` the checks read.
type inspect struct {
	State        containerState
	RestartCount int
	Config       struct {
		User string
	}
	HostConfig struct {
		CapAdd      []string
		CapDrop     []string
		Privileged  bool
		SecurityOpt []string
		Devices     []struct{ PathOnHost, PathInContainer string }
	}
	NetworkSettings struct {
		Ports map[string][]struct{ HostIP, HostPort string }
	}
}

func (d *docker) inspect(ctx context.Context, id string) (*inspect, error) {
	out, err := d.run(ctx, nil, "docker", "inspect", "--type", "container", id)
	if err != nil {
		return nil, err
	}
	var all []inspect
	if err := json.Unmarshal(out, &all); err != nil {
		return nil, fmt.Errorf("docker inspect %s: %w", id, err)
	}
	if len(all) != 1 {
		return nil, fmt.Errorf("docker inspect %s: %d results", id, len(all))
	}
	return &all[0], nil
}

// lastHealthOutput is the output of the newest health check run, which
// says why a container is not healthy.
func (s *containerState) lastHealthOutput() string {
	if s.Health == nil || len(s.Health.Log) == 0 {
		return ""
	}
	l := s.Health.Log[len(s.Health.Log)-1]
	return fmt.Sprintf("exit %d: %s", l.ExitCode, tail(l.Output, 400))
}

// imageSize is an image's size in bytes as the engine reports it.
func (d *docker) imageSize(ctx context.Context, ref string) (int64, error) {
	out, err := d.run(ctx, nil, "docker", "image", "inspect", "--format", "{{.Size}}", ref)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}
