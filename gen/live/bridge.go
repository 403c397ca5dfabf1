package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/gen/emit/dockerfile"
)

// bridgeService is the spec name whose API contract
// (shared/bridge-contract.md) these checks know.
const bridgeService = "lighthouse-bridge"

// verifyAgent is the agent the checks act as.
const verifyAgent = "live-verify"

// bridgeClient is what the checks learn from the Bridge and check after
// the restart: a session, the events they appended and a shadow file.
type bridgeClient struct {
	token     string
	aggregate string
	events    []storedEvent
	shadow    string // project-relative path of the pushed file
	content   string
}

type storedEvent struct {
	EventID  string `json:"event_id"`
	Sequence uint64 `json:"sequence"`
}

// call does one JSON request against the published port. want is the
// expected status; the answer's body is decoded into out when not nil.
func (r *run) call(ctx context.Context, method, p string, body io.Reader, want int, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, r.baseURL+p, body)
	if err != nil {
		return err
	}
	if r.bridge != nil && r.bridge.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.bridge.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, p, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, p, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s, want %d: %s", method, p, resp.Status, want, tail(string(data), 300))
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: body %q: %w", method, p, tail(string(data), 200), err)
		}
	}
	return nil
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// endpoints proves the liveness and readiness routes answer 200 from
// outside, and, for the Bridge, with the contract's bodies: /health names
// the service, /status reports every component it needs as ok.
func (r *run) endpoints(ctx context.Context) (string, error) {
	var live, ready map[string]any
	var errs []error
	if err := r.call(ctx, http.MethodGet, r.s.Health.Liveness, nil, http.StatusOK, &live); err != nil {
		errs = append(errs, err)
	}
	if err := r.call(ctx, http.MethodGet, r.s.Health.Readiness, nil, http.StatusOK, &ready); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	if r.bridge == nil {
		return fmt.Sprintf("%s and %s answer 200", r.s.Health.Liveness, r.s.Health.Readiness), nil
	}
	if live["status"] != "healthy" || live["service"] != r.s.Name {
		errs = append(errs, fmt.Errorf("%s answers %v, want status healthy and service %s", r.s.Health.Liveness, live, r.s.Name))
	}
	comps, _ := ready["components"].(map[string]any)
	want := map[string]string{"event_store": "ok", "snapshots": "ok", "fuse_mount": "disabled"}
	if r.s.FUSE != nil {
		want["fuse_mount"] = "ok"
	}
	for name, v := range want {
		if comps[name] != v {
			errs = append(errs, fmt.Errorf("%s: component %s is %v, want %s", r.s.Health.Readiness, name, comps[name], v))
		}
	}
	if ready["status"] != "ready" {
		errs = append(errs, fmt.Errorf("%s: status %v, want ready", r.s.Health.Readiness, ready["status"]))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s healthy as %s; %s ready with components %v", r.s.Health.Liveness, r.s.Name, r.s.Health.Readiness, comps), nil
}

// events mints an agent key with the image's own binary (the operator's
// way), opens a session and appends events through the API.
func (r *run) events(ctx context.Context) (string, error) {
	if r.bridge == nil {
		return "no API contract for " + r.s.Name, nil
	}
	b := r.bridge
	bin := path.Join(dockerfile.BinDir, r.s.Entry.Binary)
	key, err := r.d.exec(ctx, r.cid, bin, "token", "--agent", verifyAgent)
	if err != nil {
		return "", err
	}
	var sess struct {
		SessionToken string `json:"session_token"`
		AgentID      string `json:"agent_id"`
	}
	if err := r.call(ctx, http.MethodPost, "/session/create", jsonBody(map[string]string{
		"agent_id": verifyAgent, "agent_key": strings.TrimSpace(string(key)),
	}), http.StatusOK, &sess); err != nil {
		return "", err
	}
	if sess.SessionToken == "" || sess.AgentID != verifyAgent {
		return "", fmt.Errorf("/session/create answered agent %q and an empty or missing token", sess.AgentID)
	}
	b.token = sess.SessionToken
	b.aggregate = "live-" + r.suffix
	b.events = nil
	for i := range 3 {
		var ev storedEvent
		if err := r.call(ctx, http.MethodPost, "/event/store", jsonBody(map[string]any{
			"event_type": "live_verify", "aggregate_id": b.aggregate, "aggregate_type": "verify",
			"data": map[string]any{"n": i},
		}), http.StatusOK, &ev); err != nil {
			return "", err
		}
		b.events = append(b.events, ev)
	}
	got, err := r.queryEvents(ctx)
	if err != nil {
		return "", err
	}
	if !slices.Equal(got, b.events) {
		return "", fmt.Errorf("/event/query?aggregate_id=%s returns %v, want the appended %v", b.aggregate, got, b.events)
	}
	return fmt.Sprintf("session for %s; appended and read back 3 events, sequences %d..%d", verifyAgent, b.events[0].Sequence, b.events[2].Sequence), nil
}

func (r *run) queryEvents(ctx context.Context) ([]storedEvent, error) {
	var q struct {
		Events []storedEvent `json:"events"`
		Count  int           `json:"count"`
	}
	if err := r.call(ctx, http.MethodGet, "/event/query?aggregate_id="+url.QueryEscape(r.bridge.aggregate), nil, http.StatusOK, &q); err != nil {
		return nil, err
	}
	return q.Events, nil
}

// fuse proves /dev/fuse is there, the view is mounted at the spec's mount
// point in PID 1's namespace, and a file pushed through the API shows in
// current/ with its content.
func (r *run) fuse(ctx context.Context) (string, error) {
	if r.s.FUSE == nil {
		return "the spec declares no FUSE mount", nil
	}
	mp := r.s.FUSE.MountPoint
	var errs []error
	if _, err := r.d.exec(ctx, r.cid, "test", "-c", "/dev/fuse"); err != nil {
		errs = append(errs, fmt.Errorf("/dev/fuse is not a character device in the container: %w", err))
	}
	in, err := r.d.inspect(ctx, r.cid)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(in.HostConfig.Devices, func(d struct{ PathOnHost, PathInContainer string }) bool {
		return d.PathInContainer == "/dev/fuse"
	}) {
		errs = append(errs, fmt.Errorf("/dev/fuse is not among the devices passed in: %v", in.HostConfig.Devices))
	}
	if err := r.mounted(ctx, mp); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	if r.bridge == nil {
		return fmt.Sprintf("/dev/fuse present, FUSE mounted at %s", mp), nil
	}
	if r.bridge.token == "" {
		return "", errors.New("no session (the events step failed): cannot push a shadow file")
	}
	b := r.bridge
	b.shadow = "live-verify/" + r.suffix + ".txt"
	b.content = "pushed by lighthouse-gen verify --live " + r.suffix + "\n"
	if err := r.call(ctx, http.MethodPut, "/shadow/"+b.shadow, strings.NewReader(b.content), http.StatusOK, nil); err != nil {
		b.shadow = ""
		return "", fmt.Errorf("push a shadow file: %w", err)
	}
	if err := r.readThroughFUSE(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("/dev/fuse present, FUSE mounted at %s; %s pushed by PUT /shadow shows in current/ with its content", mp, b.shadow), nil
}

// mounted checks PID 1's mount table for a FUSE mount at mp.
func (r *run) mounted(ctx context.Context, mp string) error {
	out, err := r.d.exec(ctx, r.cid, "cat", "/proc/1/mountinfo")
	if err != nil {
		return err
	}
	mounts, err := ParseMountinfo(out)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.Point == mp {
			if strings.HasPrefix(m.FSType, "fuse") {
				return nil
			}
			return fmt.Errorf("%s is a %s mount, not FUSE", mp, m.FSType)
		}
	}
	return fmt.Errorf("nothing is mounted at %s in the container (the FUSE view is not mounted; see the container log)", mp)
}

// readThroughFUSE lists the pushed file's folder under current/ and reads
// the file with ordinary tools, as an expert agent would.
func (r *run) readThroughFUSE(ctx context.Context) error {
	b := r.bridge
	dir, file := path.Split(path.Join(r.s.FUSE.MountPoint, "current", b.shadow))
	ls, err := r.d.exec(ctx, r.cid, "ls", dir)
	if err != nil {
		return fmt.Errorf("ls of the FUSE view: %w", err)
	}
	if !slices.Contains(strings.Fields(string(ls)), file) {
		return fmt.Errorf("ls %s shows %q, not the pushed %s", dir, strings.Fields(string(ls)), file)
	}
	got, err := r.d.exec(ctx, r.cid, "cat", dir+file)
	if err != nil {
		return fmt.Errorf("cat through the FUSE view: %w", err)
	}
	if string(got) != b.content {
		return fmt.Errorf("cat %s%s gives %q, want %q", dir, file, got, b.content)
	}
	return nil
}

// bridgePersisted proves the session, the events and the shadow file
// written before the stop survived it.
func (r *run) bridgePersisted(ctx context.Context) (string, error) {
	b := r.bridge
	if b.token == "" {
		return "", errors.New("nothing to compare: the events step failed before the stop")
	}
	got, err := r.queryEvents(ctx) // with the old token: sessions live in the store
	if err != nil {
		return "", fmt.Errorf("after restart: %w", err)
	}
	if !slices.Equal(got, b.events) {
		return "", fmt.Errorf("after restart /event/query returns %v, want %v", got, b.events)
	}
	detail := fmt.Sprintf("session and %d events (sequences %d..%d) survived", len(b.events), b.events[0].Sequence, b.events[len(b.events)-1].Sequence)
	if r.s.FUSE == nil {
		return detail, nil
	}
	if b.shadow == "" {
		return "", fmt.Errorf("%s; no shadow file to compare: the fuse step failed before the stop", detail)
	}
	var errs []error
	var content []byte
	if err := r.call(ctx, http.MethodGet, "/shadow/"+b.shadow, nil, http.StatusOK, &content); err != nil {
		errs = append(errs, fmt.Errorf("after restart: %w", err))
	} else if string(content) != b.content {
		errs = append(errs, fmt.Errorf("after restart GET /shadow/%s gives %q, want %q", b.shadow, content, b.content))
	}
	if err := r.mounted(ctx, r.s.FUSE.MountPoint); err != nil {
		errs = append(errs, err)
	} else if err := r.readThroughFUSE(ctx); err != nil {
		errs = append(errs, fmt.Errorf("after restart: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("%s; %w", detail, err)
	}
	return detail + "; " + b.shadow + " still reads through the API and FUSE", nil
}

// unmountLogged proves from the Bridge's own JSON log, after since, that
// it unmounted the FUSE view cleanly on SIGTERM: the mount lives in the
// container's mount namespace, so nothing outside can see it go.
func (r *run) unmountLogged(ctx context.Context, since time.Time) error {
	cmd := exec.CommandContext(ctx, "docker", "logs", "--since", strconv.FormatInt(since.Add(-time.Second).Unix(), 10), r.cid)
	cmd.Env = r.d.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker logs: %w: %s", err, tail(string(out), 300))
	}
	var unmounted bool
	for _, line := range strings.Split(string(out), "\n") {
		var rec struct {
			Msg        string `json:"msg"`
			MountPoint string `json:"mount_point"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch {
		case rec.Msg == logUnmountFailed:
			return fmt.Errorf("the Bridge logged %q on SIGTERM", line)
		case rec.Msg == logUnmounted && rec.MountPoint == r.s.FUSE.MountPoint:
			unmounted = true
		}
	}
	if !unmounted {
		return fmt.Errorf("the Bridge did not log %q for %s on SIGTERM; log since the stop:\n%s", logUnmounted, r.s.FUSE.MountPoint, tail(string(out), 1500))
	}
	return nil
}

// The Bridge's log messages (bridge/fusefs) the stop step relies on.
const (
	logUnmounted     = "FUSE view unmounted"
	logUnmountFailed = "FUSE unmount failed, detaching lazily"
)
