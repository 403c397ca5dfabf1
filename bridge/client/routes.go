package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
)

// Health is GET /health: liveness.
func (c *Client) Health(ctx context.Context) (api.HealthResponse, error) {
	return getJSON[api.HealthResponse](ctx, c, "/health", false)
}

// Live is GET /health/live, the same answer as Health.
func (c *Client) Live(ctx context.Context) (api.HealthResponse, error) {
	return getJSON[api.HealthResponse](ctx, c, "/health/live", false)
}

// Status is GET /status: readiness. A Bridge that is not ready answers
// 503 with the same body: Status then returns it with the *Error.
func (c *Client) Status(ctx context.Context) (api.StatusResponse, error) {
	return c.readiness(ctx, "/status")
}

// Ready is GET /health/ready, the same answer as Status.
func (c *Client) Ready(ctx context.Context) (api.StatusResponse, error) {
	return c.readiness(ctx, "/health/ready")
}

func (c *Client) readiness(ctx context.Context, path string) (api.StatusResponse, error) {
	r := request{method: http.MethodGet, path: path}
	resp, cancel, err := c.sendStatus(ctx, r)
	if err != nil {
		return api.StatusResponse{}, err
	}
	defer cancel()
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		var st api.StatusResponse
		return st, c.decode(r, resp, &st)
	}
	// 503: the status of a Bridge that is not ready, or the error of one
	// that answers nothing else (its probe path) or of what stands in front.
	b, err := readAtMost(resp.Body, maxErrorBytes)
	if err != nil {
		return api.StatusResponse{}, fmt.Errorf("lighthouse bridge: GET %s: %w", path, err)
	}
	var st api.StatusResponse
	if json.Unmarshal(b, &st) != nil || st.Status == "" {
		return api.StatusResponse{}, errorFrom(r.method, path, resp, b)
	}
	comps := make([]string, 0, len(st.Components))
	for _, k := range slices.Sorted(maps.Keys(st.Components)) {
		comps = append(comps, k+": "+st.Components[k])
	}
	return st, &Error{Method: r.method, Path: path, Status: resp.StatusCode, Code: "service_unavailable",
		Message:    clean(fmt.Sprintf("not ready (%s, mode %s): %s", st.Status, st.Mode, strings.Join(comps, "; ")), 4096),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// sendStatus is send for the readiness routes, whose 503 carries the
// status body rather than an error body.
func (c *Client) sendStatus(ctx context.Context, r request) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	resp, err := c.roundTrip(ctx, r, "")
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable && isJSON(resp) {
		return resp, cancel, nil
	}
	defer cancel()
	defer resp.Body.Close()
	return nil, nil, readError(r.method, r.path, resp)
}

// Metrics is GET /metrics, parsed with the Prometheus text parser.
func (c *Client) Metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	r := request{method: http.MethodGet, path: "/metrics"}
	resp, cancel, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := readAtMost(resp.Body, c.o.MaxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("lighthouse bridge: GET /metrics: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("lighthouse bridge: GET /metrics: %w", err)
	}
	return fams, nil
}

// ValidateSession is POST /session/validate: whether token is a valid
// session of agent.
func (c *Client) ValidateSession(ctx context.Context, token, agent string) (bool, error) {
	var out api.SessionValidateResponse
	err := c.doJSON(ctx, request{method: http.MethodPost, path: "/session/validate"},
		api.SessionValidateRequest{SessionToken: token, AgentID: agent}, &out)
	return out.Valid, err
}

// StoreEvent is POST /event/store: the event is durable when it returns.
func (c *Client) StoreEvent(ctx context.Context, req api.EventStoreRequest) (api.EventStoreResponse, error) {
	return postJSON[api.EventStoreResponse](ctx, c, "/event/store", req)
}

// QueryEvents is GET /event/query: the events the agent may read that
// match q, by sequence. A truncated answer continues from NextSince.
func (c *Client) QueryEvents(ctx context.Context, q api.EventQuery) (api.EventQueryResponse, error) {
	var out api.EventQueryResponse
	err := c.doJSON(ctx, request{method: http.MethodGet, path: "/event/query", query: q.Values(), auth: true}, nil, &out)
	return out, err
}

// Validate is POST /validate: the Bridge's decision on a tool call. It
// may wait for an expert: Options.ValidateTimeout bounds it.
func (c *Client) Validate(ctx context.Context, req api.ValidateRequest) (api.ValidateResponse, error) {
	var out api.ValidateResponse
	err := c.doJSON(ctx, request{method: http.MethodPost, path: "/validate", auth: true, timeout: c.o.ValidateTimeout}, req, &out)
	return out, err
}

// ValidateLegacy is POST /validate in the older hook contract's shape.
func (c *Client) ValidateLegacy(ctx context.Context, req api.LegacyValidateRequest) (api.LegacyValidateResponse, error) {
	var out api.LegacyValidateResponse
	err := c.doJSON(ctx, request{method: http.MethodPost, path: "/validate", auth: true, timeout: c.o.ValidateTimeout}, req, &out)
	return out, err
}

// Backup is GET /admin/backup (an admin key's session): it writes a
// consistent copy of the live store to w and returns its size. It has no
// overall timeout (a store may be large); it fails when the Bridge sends
// nothing for StreamIdle, or past MaxBackupBytes. A failed backup may
// have written part of a copy to w: discard it.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := request{method: http.MethodGet, path: "/admin/backup", auth: true, timeout: -1}
	resp, cancelSend, err := c.send(ctx, r)
	if err != nil {
		return 0, err
	}
	defer cancelSend()
	defer resp.Body.Close()
	body := newIdleReader(resp.Body, c.o.StreamIdle, cancel)
	defer body.stop()
	n, err := io.Copy(w, io.LimitReader(body, c.o.MaxBackupBytes+1))
	switch {
	case n > c.o.MaxBackupBytes:
		return n, fmt.Errorf("lighthouse bridge: GET /admin/backup: %w (more than %d bytes, Options.MaxBackupBytes)", ErrResponseTooLarge, c.o.MaxBackupBytes)
	case err != nil && body.idle():
		return n, fmt.Errorf("lighthouse bridge: GET /admin/backup: nothing received for %s", c.o.StreamIdle)
	case err != nil:
		return n, fmt.Errorf("lighthouse bridge: GET /admin/backup: %w", err)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return n, fmt.Errorf("lighthouse bridge: GET /admin/backup: %d bytes of %d", n, resp.ContentLength)
	}
	return n, nil
}

// Coordination.

// RegisterExpert is POST /expert/register: the agent becomes an expert
// with the given capabilities.
func (c *Client) RegisterExpert(ctx context.Context, req api.RegisterRequest) (api.ExpertResponse, error) {
	return postJSON[api.ExpertResponse](ctx, c, "/expert/register", req)
}

// Heartbeat is POST /expert/heartbeat: the expert stays available.
func (c *Client) Heartbeat(ctx context.Context) (api.ExpertResponse, error) {
	return postJSON[api.ExpertResponse](ctx, c, "/expert/heartbeat", api.HeartbeatRequest{})
}

// Experts is GET /expert/list.
func (c *Client) Experts(ctx context.Context) (api.ExpertListResponse, error) {
	return getJSON[api.ExpertListResponse](ctx, c, "/expert/list", true)
}

// Delegate is POST /expert/delegate.
func (c *Client) Delegate(ctx context.Context, req api.DelegateRequest) (api.DelegateResponse, error) {
	return postJSON[api.DelegateResponse](ctx, c, "/expert/delegate", req)
}

// Delegations is GET /expert/delegations: the expert's pending work.
func (c *Client) Delegations(ctx context.Context) (api.DelegationListResponse, error) {
	return getJSON[api.DelegationListResponse](ctx, c, "/expert/delegations", true)
}

// Delegation is GET /expert/delegations/{id}.
func (c *Client) Delegation(ctx context.Context, id string) (coord.Delegation, error) {
	p, err := pathID("delegation id", id)
	if err != nil {
		return coord.Delegation{}, err
	}
	return getJSON[coord.Delegation](ctx, c, "/expert/delegations/"+p, true)
}

// CompleteDelegation is POST /expert/delegations/{id}/complete: the
// expert's result.
func (c *Client) CompleteDelegation(ctx context.Context, id string, req api.CompleteRequest) (coord.Delegation, error) {
	p, err := pathID("delegation id", id)
	if err != nil {
		return coord.Delegation{}, err
	}
	return postJSON[coord.Delegation](ctx, c, "/expert/delegations/"+p+"/complete", req)
}

// DispatchTask is POST /task/dispatch.
func (c *Client) DispatchTask(ctx context.Context, req api.TaskRequest) (api.TaskDispatchResponse, error) {
	return postJSON[api.TaskDispatchResponse](ctx, c, "/task/dispatch", req)
}

// PendingTasks is GET /task/pending: tasks dispatched to the agent.
func (c *Client) PendingTasks(ctx context.Context) (api.TaskListResponse, error) {
	return getJSON[api.TaskListResponse](ctx, c, "/task/pending", true)
}

// Task is GET /task/{id}.
func (c *Client) Task(ctx context.Context, id string) (coord.Task, error) {
	p, err := pathID("task id", id)
	if err != nil {
		return coord.Task{}, err
	}
	return getJSON[coord.Task](ctx, c, "/task/"+p, true)
}

// CompleteTask is POST /task/{id}/complete: the assignee's result.
func (c *Client) CompleteTask(ctx context.Context, id string, req api.CompleteRequest) (coord.Task, error) {
	p, err := pathID("task id", id)
	if err != nil {
		return coord.Task{}, err
	}
	return postJSON[coord.Task](ctx, c, "/task/"+p+"/complete", req)
}

// StartCollaboration is POST /collaboration/start.
func (c *Client) StartCollaboration(ctx context.Context, req api.CollaborationRequest) (coord.Collaboration, error) {
	return postJSON[coord.Collaboration](ctx, c, "/collaboration/start", req)
}

// Collaboration is GET /collaboration/{id}.
func (c *Client) Collaboration(ctx context.Context, id string) (coord.Collaboration, error) {
	p, err := pathID("collaboration id", id)
	if err != nil {
		return coord.Collaboration{}, err
	}
	return getJSON[coord.Collaboration](ctx, c, "/collaboration/"+p, true)
}

// EndCollaboration is POST /collaboration/{id}/end.
func (c *Client) EndCollaboration(ctx context.Context, id string, req api.EndRequest) (coord.Collaboration, error) {
	p, err := pathID("collaboration id", id)
	if err != nil {
		return coord.Collaboration{}, err
	}
	return postJSON[coord.Collaboration](ctx, c, "/collaboration/"+p+"/end", req)
}

// CreateElicitation is POST /elicitation/create: a question to another agent.
func (c *Client) CreateElicitation(ctx context.Context, req api.ElicitRequest) (api.ElicitResponse, error) {
	return postJSON[api.ElicitResponse](ctx, c, "/elicitation/create", req)
}

// PendingElicitations is GET /elicitation/pending: open questions to the agent.
func (c *Client) PendingElicitations(ctx context.Context) (api.ElicitationListResponse, error) {
	return getJSON[api.ElicitationListResponse](ctx, c, "/elicitation/pending", true)
}

// RespondElicitation is POST /elicitation/respond: the addressee's
// answer, or the asker's cancellation.
func (c *Client) RespondElicitation(ctx context.Context, req api.RespondRequest) (coord.Elicitation, error) {
	return postJSON[coord.Elicitation](ctx, c, "/elicitation/respond", req)
}

// ElicitationStatus is GET /elicitation/status/{id}.
func (c *Client) ElicitationStatus(ctx context.Context, id string) (coord.Elicitation, error) {
	p, err := pathID("elicitation id", id)
	if err != nil {
		return coord.Elicitation{}, err
	}
	return getJSON[coord.Elicitation](ctx, c, "/elicitation/status/"+p, true)
}

func getJSON[T any](ctx context.Context, c *Client, path string, authed bool) (T, error) {
	var out T
	err := c.doJSON(ctx, request{method: http.MethodGet, path: path, auth: authed}, nil, &out)
	return out, err
}

func postJSON[T any](ctx context.Context, c *Client, path string, in any) (T, error) {
	var out T
	err := c.doJSON(ctx, request{method: http.MethodPost, path: path, auth: true}, in, &out)
	return out, err
}

func isJSON(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}
