package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/gen/audit"
	"github.com/lighthouse-project/lighthouse/gen/check"
)

// healthTimeout is how long Docker may take, by the spec's own numbers,
// to call a healthy service healthy.
func (r *run) healthTimeout() time.Duration {
	if r.o.HealthTimeout > 0 {
		return r.o.HealthTimeout
	}
	h := r.s.Health
	return h.StartPeriod + time.Duration(h.Retries+1)*h.Interval + h.Timeout
}

// waitHealthy polls `docker inspect` until Docker's own health check (the
// generated HEALTHCHECK) reports healthy. It fails early when the
// container exits, restarts or is reported unhealthy. Meanwhile it probes
// the readiness endpoint on the published port to record when the
// service itself was ready.
func (r *run) waitHealthy(ctx context.Context, since time.Time, readyc <-chan time.Duration) (ready, healthy time.Duration, err error) {
	deadline := time.Now().Add(r.healthTimeout())
	readyAt := func() time.Duration {
		select {
		case d := <-readyc:
			ready = d
		default:
		}
		return ready
	}
	restarts0 := -1
	for {
		in, err := r.d.inspect(ctx, r.cid)
		if err != nil {
			return readyAt(), 0, err
		}
		if restarts0 < 0 {
			restarts0 = in.RestartCount
		}
		st := in.State
		switch {
		case st.Health == nil:
			return readyAt(), 0, errors.New("the container has no health check: the image's HEALTHCHECK or compose's healthcheck is missing")
		case in.RestartCount > restarts0 || st.Restarting || (!st.Running && st.Status != "created"):
			return readyAt(), 0, fmt.Errorf("the container %s (exit code %d, restarts %d) before it was healthy; last log lines:\n%s",
				st.Status, st.ExitCode, in.RestartCount, r.logsTail(ctx, 15))
		case st.Health.Status == "healthy":
			return readyAt(), time.Since(since), nil
		case st.Health.Status == "unhealthy":
			return readyAt(), 0, fmt.Errorf("Docker reports the container unhealthy after %d failed checks; last check: %s", st.Health.FailingStreak, st.lastHealthOutput())
		}
		if time.Now().After(deadline) {
			return readyAt(), 0, fmt.Errorf("not healthy within %s (Docker health %q); last check: %s", r.healthTimeout(), st.Health.Status, st.lastHealthOutput())
		}
		select {
		case <-ctx.Done():
			return readyAt(), 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// probeReady polls the readiness route on baseURL every 50 ms until it
// answers 200, and sends the time since since; it gives up when stopped,
// with ctx or after the health timeout. It starts before `up`, so the
// figure is not rounded up to how long the compose client takes to return.
func (r *run) probeReady(ctx context.Context, since time.Time) (<-chan time.Duration, context.CancelFunc) {
	c := make(chan time.Duration, 1)
	ctx, cancel := context.WithTimeout(ctx, r.healthTimeout())
	go func() {
		defer cancel()
		client := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.baseURL+r.s.Health.Readiness, nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					c <- time.Since(since)
					return
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return c, cancel
}

func (r *run) logsTail(ctx context.Context, n int) string {
	// The service logs to stderr, which docker logs replays on its own
	// stderr: read both.
	cmd := exec.CommandContext(ctx, "docker", "logs", "--tail", strconv.Itoa(n), r.cid)
	cmd.Env = r.d.env
	out, _ := cmd.CombinedOutput()
	return tail(string(out), 2000)
}

func (r *run) healthy(ctx context.Context) (string, error) {
	defer r.stopProbe()
	ready, healthy, err := r.waitHealthy(ctx, r.upAt, r.readyc)
	r.rep.UpToReadyMS, r.rep.UpToHealthyMS = ready.Milliseconds(), healthy.Milliseconds()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("ready after %.1fs, Docker healthy after %.1fs (first check one interval, %s, after start)", ready.Seconds(), healthy.Seconds(), r.s.Health.Interval), nil
}

// process proves PID 1 is the spec's entry with its arguments (the start
// script execs it) and that nothing else runs.
func (r *run) process(ctx context.Context) (string, error) {
	out, err := r.d.exec(ctx, r.cid, "cat", "/proc/1/cmdline")
	if err != nil {
		return "", err
	}
	got := ParseNUL(out)
	f := check.NewFacts("the container")
	f.Add(check.FieldEntry, check.Value{V: check.Argv(got), View: "PID 1"})
	// Outside: the engine's view of every process in the container.
	top, err := r.d.run(ctx, nil, "docker", "top", r.cid, "-o", "pid,args")
	if err != nil {
		return "", err
	}
	procs := topProcesses(string(top))
	errs := []error{r.compare(f)}
	if len(procs) != 1 {
		errs = append(errs, fmt.Errorf("%d processes run in the container, want only the entry: %s", len(procs), strings.Join(procs, "; ")))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return fmt.Sprintf("PID 1 is %q, the only process", strings.Join(got, " ")), nil
}

// compareOnly is compare with the spec's facts narrowed to the items keep
// accepts (what the container can show at all).
func (r *run) compareOnly(got *check.Facts, keep func(check.Value) bool) error {
	want := audit.SpecFacts(r.s)
	for fl, vs := range want.Fields {
		var kept []check.Value
		for _, v := range vs {
			if keep(v) || v.Key == "" {
				kept = append(kept, v)
			}
		}
		if vs != nil {
			want.Fields[fl] = kept
		}
	}
	return r.compareWith(got, want)
}

// compare holds what the container shows (got) to the spec's facts, the
// ones every build holds the artifacts to (audit.SpecFacts), field by
// field; each disagreement is one error.
func (r *run) compare(got *check.Facts) error {
	return r.compareWith(got, audit.SpecFacts(r.s))
}

func (r *run) compareWith(got, want *check.Facts) error {
	wd, _ := os.Getwd()
	var errs []error
	for _, d := range check.CompareFacts(got, want) {
		errs = append(errs, errors.New(d.Message(func(field string) string { return r.s.Where(field, wd) })))
	}
	return errors.Join(errs...)
}

// topProcesses returns the process lines of `docker top -o pid,args`.
func topProcesses(out string) []string {
	var procs []string
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if i == 0 || strings.TrimSpace(l) == "" { // header
			continue
		}
		procs = append(procs, strings.Join(strings.Fields(l), " "))
	}
	return procs
}

// user proves the process runs as the spec's uid and gid, every one of
// real, effective, saved and filesystem ids, and that the engine was told
// to run it so.
func (r *run) user(ctx context.Context) (string, error) {
	st, err := r.status(ctx)
	if err != nil {
		return "", err
	}
	in, err := r.d.inspect(ctx, r.cid)
	if err != nil {
		return "", err
	}
	f := check.NewFacts("the container")
	for i, kind := range []string{"real", "effective", "saved", "filesystem"} {
		f.Add(check.FieldUID, check.Value{V: strconv.Itoa(st.Uid[i]), View: "PID 1's " + kind + " uid"})
		f.Add(check.FieldGID, check.Value{V: strconv.Itoa(st.Gid[i]), View: "PID 1's " + kind + " gid"})
	}
	// Outside: the user the engine was told to run.
	u, g, hasG := strings.Cut(in.Config.User, ":")
	f.Add(check.FieldUID, check.Value{V: u, View: "the engine's configured user"})
	if hasG {
		f.Add(check.FieldGID, check.Value{V: g, View: "the engine's configured group"})
	}
	if err := r.compare(f); err != nil {
		return "", err
	}
	return fmt.Sprintf("uid %d, gid %d (real, effective, saved, fs), configured as %s", r.s.Image.UID, r.s.Image.GID, in.Config.User), nil
}

func (r *run) status(ctx context.Context) (Status, error) {
	out, err := r.d.exec(ctx, r.cid, "cat", "/proc/1/status")
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(out)
}

// capabilities proves the effective, permitted and bounding sets are
// exactly the declared capabilities, that the engine was asked for those
// alone (ALL dropped, not privileged) and that no-new-privileges holds.
func (r *run) capabilities(ctx context.Context) (string, error) {
	st, err := r.status(ctx)
	if err != nil {
		return "", err
	}
	if r.s.Security.Privileged {
		return "", errors.New("the spec asks for a privileged container: its capabilities cannot be held to a declared set")
	}
	in, err := r.d.inspect(ctx, r.cid)
	if err != nil {
		return "", err
	}
	f := check.NewFacts("the container")
	var errs []error
	for _, set := range []struct{ name, mask string }{{"effective", st.CapEff}, {"permitted", st.CapPrm}, {"bounding", st.CapBnd}} {
		caps, err := DecodeCaps(set.mask)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		view := set.name + " capabilities (mask " + set.mask + ")"
		f.Express(check.FieldCapabilities, view, "", 0)
		for _, c := range caps {
			f.Add(check.FieldCapabilities, check.Value{Key: c, View: view})
		}
	}
	// Outside: what the engine was asked for.
	hc := in.HostConfig
	f.Express(check.FieldCapabilities, "the engine's cap_add", "", 0)
	for _, c := range hc.CapAdd {
		f.Add(check.FieldCapabilities, check.Value{Key: strings.TrimPrefix(strings.ToUpper(c), "CAP_"), View: "the engine's cap_add"})
	}
	f.Add(check.FieldDropAll, check.Value{V: check.Dropped(hc.CapDrop), View: "the engine's cap_drop"})
	f.Add(check.FieldPrivileged, check.Value{V: strconv.FormatBool(hc.Privileged), View: "the engine's privileged"})
	errs = append(errs, r.compare(f))
	if !st.NoNewPrivs {
		errs = append(errs, errors.New("no_new_privs is not set"))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	want := make([]string, 0, len(r.s.Security.Capabilities))
	for _, c := range r.s.Security.Capabilities {
		want = append(want, c.Name)
	}
	sort.Strings(want)
	return fmt.Sprintf("effective = permitted = bounding = %v (CapEff %s), no_new_privs", want, st.CapEff), nil
}

// ports proves that inside the container exactly the declared TCP ports
// listen, and that each answers on its published host port.
func (r *run) ports(ctx context.Context) (string, error) {
	var listening []Socket
	for _, f := range []struct {
		name string
		v6   bool
	}{{"/proc/net/tcp", false}, {"/proc/net/tcp6", true}} {
		out, err := r.d.exec(ctx, r.cid, "cat", f.name)
		if err != nil {
			if f.v6 { // a kernel without IPv6 has no tcp6 table
				continue
			}
			return "", err
		}
		socks, err := ParseListening(out, f.v6)
		if err != nil {
			return "", err
		}
		listening = append(listening, socks...)
	}
	fds, err := r.d.exec(ctx, r.cid, "ls", "-l", "/proc/1/fd")
	if err != nil {
		return "", err
	}
	owned := SocketInodes(fds)
	var errs []error
	got := map[int]bool{}
	f := check.NewFacts("the container")
	f.Express(check.FieldPorts, "TCP ports listening in the container", "", 0)
	for _, s := range listening {
		if !s.V6 && s.Addr == dockerDNS {
			continue
		}
		got[s.Port] = true
		f.Add(check.FieldPorts, check.Value{Key: strconv.Itoa(s.Port) + "/tcp", View: "TCP ports listening in the container"})
		if !owned[s.Inode] {
			errs = append(errs, fmt.Errorf("port %d/tcp listens, but not on a socket of PID 1", s.Port))
		}
	}
	// /proc/net/tcp shows TCP only: the spec's UDP ports are not held to it.
	errs = append(errs, r.compareOnly(f, func(v check.Value) bool { return strings.HasSuffix(v.Key, "/tcp") }))
	want := map[int]bool{}
	for _, p := range r.s.Ports {
		if p.Protocol == "TCP" {
			want[p.Number] = true
		}
	}
	in, err := r.d.inspect(ctx, r.cid)
	if err != nil {
		return "", err
	}
	for p := range want {
		binds := in.NetworkSettings.Ports[fmt.Sprintf("%d/tcp", p)]
		if len(binds) == 0 {
			errs = append(errs, fmt.Errorf("declared port %d/tcp is not published", p))
			continue
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", binds[0].HostPort), 2*time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("port %d/tcp, published on %s, does not answer from the host: %w", p, binds[0].HostPort, err))
			continue
		}
		c.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	ports := make([]int, 0, len(got))
	for p := range got {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	return fmt.Sprintf("only %v/tcp listen inside (Docker's DNS on 127.0.0.11 aside), on PID 1's sockets, each answering on its published host port", ports), nil
}

// runtimeEnv are the variables Docker itself sets in every container
// (PATH, HOSTNAME, HOME) and the start script's shell exports to what it
// execs (SHLVL; PWD is checked against the workdir).
var runtimeEnv = map[string]bool{"PATH": true, "HOSTNAME": true, "HOME": true, "SHLVL": true, "PWD": true}

// env proves the process's environment is the declared one: every
// declared value as the spec says, every secret present (and equal to
// the generated env file's, never printed), nothing undeclared besides
// what Docker sets, and the working directory the spec's.
func (r *run) env(ctx context.Context) (string, error) {
	out, err := r.d.exec(ctx, r.cid, "cat", "/proc/1/environ")
	if err != nil {
		return "", err
	}
	got := ParseEnviron(out)
	f := check.NewFacts("the container")
	const view = "PID 1's environment"
	f.Express(check.FieldEnv, view, "", 0)
	f.Express(check.FieldEnvValues, view, "", 0)
	var errs []error
	for _, k := range sortedKeys(got) {
		if runtimeEnv[k] {
			continue
		}
		f.Add(check.FieldEnv, check.Value{Key: k, View: view})
		if want, ok := r.secrets[k]; ok {
			// What this run supplied through the env file: it must arrive
			// intact (and is never printed).
			if got[k] != want {
				errs = append(errs, fmt.Errorf("secret %s is not the value of the env file", k))
			}
			continue
		}
		f.Add(check.FieldEnvValues, check.Value{Key: k, V: got[k], View: view})
	}
	if pwd, ok := got["PWD"]; ok {
		f.Add(check.FieldWorkdir, check.Value{V: pwd, View: "PID 1's PWD"})
	}
	errs = append(errs, r.compare(f))
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d declared variables as specified (%d secret), nothing else but Docker's PATH, HOSTNAME, HOME and the shell's SHLVL, PWD", len(r.s.Env), len(r.secrets)), nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stop sends SIGTERM through `compose stop` and proves the process exits
// 0 within the spec's grace period and leaves no mount on the host.
func (r *run) stop(ctx context.Context) (string, error) {
	start := time.Now()
	if _, err := r.proj.run(ctx, "stop", r.svc); err != nil {
		return "", err
	}
	took := time.Since(start)
	r.rep.StopMS = took.Milliseconds()
	in, err := r.d.inspect(ctx, r.cid)
	if err != nil {
		return "", err
	}
	var errs []error
	if in.State.Running {
		errs = append(errs, errors.New("the container still runs after stop"))
	}
	if in.State.ExitCode != 0 {
		errs = append(errs, fmt.Errorf("the entry exited with code %d on SIGTERM, want 0; last log lines:\n%s", in.State.ExitCode, r.logsTail(ctx, 10)))
	}
	if grace := r.s.Workload.StopGracePeriod; grace > 0 && took >= grace {
		errs = append(errs, fmt.Errorf("stop took %s, not within the grace period %s (killed?)", took.Round(time.Millisecond), grace))
	}
	if r.bridge != nil && r.s.FUSE != nil {
		if err := r.unmountLogged(ctx, start); err != nil {
			errs = append(errs, err)
		}
	}
	if r.s.FUSE != nil {
		if m, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
			mounts, err := ParseMountinfo(m)
			if err != nil {
				errs = append(errs, err)
			}
			for _, mt := range mounts {
				if strings.HasPrefix(mt.FSType, "fuse") && strings.HasSuffix(mt.Point, r.s.FUSE.MountPoint) {
					errs = append(errs, fmt.Errorf("a FUSE mount is left at %s on the host", mt.Point))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	detail := fmt.Sprintf("SIGTERM → exit 0 in %.1fs (grace %s)", took.Seconds(), r.s.Workload.StopGracePeriod)
	if r.bridge != nil && r.s.FUSE != nil {
		detail += ", the Bridge logged the FUSE view unmounted"
	}
	return detail, nil
}

// restart starts the stopped project again and proves what was written
// before the stop is still there.
func (r *run) restart(ctx context.Context) (string, error) {
	start := time.Now()
	readyc, stopProbe := r.probeReady(ctx, start)
	defer stopProbe()
	if _, err := r.proj.run(ctx, "up", "-d", "--no-build"); err != nil {
		return "", err
	}
	id, err := r.proj.containerID(ctx, r.svc)
	if err != nil {
		return "", err
	}
	r.cid = id
	if _, _, err := r.waitHealthy(ctx, start, readyc); err != nil {
		return "", err
	}
	detail := fmt.Sprintf("healthy again after %.1fs", time.Since(start).Seconds())
	if r.bridge == nil {
		return detail + "; no API contract to check persistence against", nil
	}
	d, err := r.bridgePersisted(ctx)
	if err != nil {
		return "", err
	}
	return detail + "; " + d, nil
}

// cleanup removes every container, network, volume and image the run
// made, then lists what is left under its names.
func (r *run) cleanup(ctx context.Context) (string, error) {
	if r.stopProbe != nil {
		r.stopProbe()
	}
	var errs []error
	if r.d != nil {
		if r.created.project || r.created.image {
			// A short timeout: the graceful stop was the stop step's to
			// prove; a broken entry (a shell as PID 1) ignores SIGTERM.
			if _, err := r.proj.run(ctx, "down", "--volumes", "--rmi", "all", "--remove-orphans", "--timeout", "5"); err != nil {
				errs = append(errs, err)
			}
		}
		if r.created.image && r.s != nil {
			// down --rmi only knows images of services it created.
			if out, _ := r.d.run(ctx, nil, "docker", "images", "-q", r.s.Image.Ref); len(strings.TrimSpace(string(out))) > 0 {
				if _, err := r.d.run(ctx, nil, "docker", "rmi", "--force", r.s.Image.Ref); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if r.created.base {
			if out, _ := r.d.run(ctx, nil, "docker", "images", "-q", r.base); len(strings.TrimSpace(string(out))) > 0 {
				if _, err := r.d.run(ctx, nil, "docker", "rmi", r.base); err != nil {
					errs = append(errs, err)
				}
			}
		}
		left, err := r.leftovers(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		r.rep.Leftovers = left
		if len(left) > 0 {
			errs = append(errs, fmt.Errorf("left behind: %s", strings.Join(left, ", ")))
		}
	}
	if r.dir != "" {
		if err := os.RemoveAll(r.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return fmt.Sprintf("no container, network, volume or image of project %s left", r.rep.Project), nil
}

// leftovers lists Docker objects carrying the run's project label or
// image names.
func (r *run) leftovers(ctx context.Context) ([]string, error) {
	label := "label=com.docker.compose.project=" + r.rep.Project
	var left []string
	for _, q := range []struct {
		kind string
		args []string
	}{
		{"container", []string{"ps", "-aq", "--filter", label}},
		{"network", []string{"network", "ls", "-q", "--filter", label}},
		{"volume", []string{"volume", "ls", "-q", "--filter", label}},
		{"image", []string{"images", "-q", "--filter", "reference=" + r.base}},
	} {
		out, err := r.d.run(ctx, nil, "docker", q.args...)
		if err != nil {
			return left, err
		}
		for _, id := range strings.Fields(string(out)) {
			left = append(left, q.kind+" "+id)
		}
	}
	if r.s != nil {
		out, err := r.d.run(ctx, nil, "docker", "images", "-q", "--filter", "reference="+r.s.Image.Ref)
		if err != nil {
			return left, err
		}
		for _, id := range strings.Fields(string(out)) {
			left = append(left, "image "+id+" ("+r.s.Image.Ref+")")
		}
	}
	return left, nil
}
