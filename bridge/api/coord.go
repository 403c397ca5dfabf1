package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/coord"
)

// Coordination request bodies. Each accepts agent_id only to refuse a
// body that names another agent (403): the actor is the token's agent.
type (
	// RegisterRequest is POST /expert/register.
	RegisterRequest struct {
		AgentID      string   `json:"agent_id,omitempty"`
		Capabilities []string `json:"capabilities"`
	}
	// HeartbeatRequest is POST /expert/heartbeat (the body may be empty).
	HeartbeatRequest struct {
		AgentID string `json:"agent_id,omitempty"`
	}
	// DelegateRequest is POST /expert/delegate.
	DelegateRequest struct {
		AgentID      string          `json:"agent_id,omitempty"`
		ToolName     string          `json:"tool_name"`
		ToolInput    json.RawMessage `json:"tool_input,omitempty"`
		TargetExpert string          `json:"target_expert,omitempty"`
		Capabilities []string        `json:"capabilities,omitempty"`
	}
	// CompleteRequest is POST /expert/delegations/{id}/complete and
	// POST /task/{id}/complete.
	CompleteRequest struct {
		AgentID string          `json:"agent_id,omitempty"`
		Result  json.RawMessage `json:"result"`
	}
	// TaskRequest is POST /task/dispatch.
	TaskRequest struct {
		AgentID      string          `json:"agent_id,omitempty"`
		TargetAgent  string          `json:"target_agent,omitempty"`
		Capabilities []string        `json:"capabilities,omitempty"`
		Description  string          `json:"description"`
		Data         json.RawMessage `json:"data,omitempty"`
	}
	// CollaborationRequest is POST /collaboration/start.
	CollaborationRequest struct {
		AgentID      string   `json:"agent_id,omitempty"`
		Participants []string `json:"participants"`
		Topic        string   `json:"topic"`
	}
	// EndRequest is POST /collaboration/{id}/end (the body may be empty).
	EndRequest struct {
		AgentID string `json:"agent_id,omitempty"`
		Summary string `json:"summary,omitempty"`
	}
	// ElicitRequest is POST /elicitation/create.
	ElicitRequest struct {
		AgentID        string          `json:"agent_id,omitempty"`
		FromAgent      string          `json:"from_agent,omitempty"`
		ToAgent        string          `json:"to_agent"`
		Message        string          `json:"message"`
		Schema         json.RawMessage `json:"schema,omitempty"`
		TimeoutSeconds *float64        `json:"timeout_seconds,omitempty"`
	}
	// RespondRequest is POST /elicitation/respond.
	RespondRequest struct {
		AgentID       string          `json:"agent_id,omitempty"`
		ElicitationID string          `json:"elicitation_id"`
		ResponseType  string          `json:"response_type"`
		Data          json.RawMessage `json:"data,omitempty"`
	}
)

// Coordination response bodies that used to be maps; their fields are in
// the maps' (sorted) key order, so the bytes on the wire are unchanged.
type (
	// ExpertResponse is POST /expert/register's and /expert/heartbeat's answer.
	ExpertResponse struct {
		Expert coord.ExpertView `json:"expert"`
		Status string           `json:"status"` // "registered" or "ok"
	}
	// ExpertListResponse is GET /expert/list's answer.
	ExpertListResponse struct {
		Count   int                `json:"count"`
		Experts []coord.ExpertView `json:"experts"`
	}
	// DelegationListResponse is GET /expert/delegations' answer.
	DelegationListResponse struct {
		Count       int                `json:"count"`
		Delegations []coord.Delegation `json:"delegations"`
		// Truncated says the oldest that fit one answer are listed
		// (maxListBytes); the rest follow as these are settled.
		Truncated bool `json:"truncated,omitempty"`
	}
	// TaskDispatchResponse is POST /task/dispatch's answer.
	TaskDispatchResponse struct {
		AssignedTo string `json:"assigned_to"`
		Status     string `json:"status"`
		TaskID     string `json:"task_id"`
	}
	// TaskListResponse is GET /task/pending's answer.
	TaskListResponse struct {
		Count     int          `json:"count"`
		Tasks     []coord.Task `json:"tasks"`
		Truncated bool         `json:"truncated,omitempty"` // as DelegationListResponse's
	}
	// ElicitationListResponse is GET /elicitation/pending's answer.
	ElicitationListResponse struct {
		Count        int                 `json:"count"`
		Elicitations []coord.Elicitation `json:"elicitations"`
		Truncated    bool                `json:"truncated,omitempty"` // as DelegationListResponse's
	}
)

// coordType declares a coordination event type: its parties come from
// coord.Parties.
func coordType(name string) EventType {
	return EventType{Name: name, Visibility: Participants, Parties: coord.Parties}
}

// publicType declares an event type every agent may read.
func publicType(name string) EventType { return EventType{Name: name, Visibility: Everyone} }

// CoordinationPart is the contract's coordination routes over c. Every
// event a delegation, task, collaboration or question writes is readable
// by its parties (coord.Parties) and admins only, as GET /task/{id} and
// the like are; registrations and heartbeats are public, as
// GET /expert/list is. With a nil c it still describes the routes.
func CoordinationPart(c *coord.Coordinator) Part {
	h := coordHandlers{c}
	post := func(path string, req, resp reflect.Type, f http.HandlerFunc, doc string, writes ...EventType) Route {
		return Route{Method: http.MethodPost, Path: path, Access: Agent, Handler: f, Request: req, Response: resp, Doc: doc, Writes: writes}
	}
	get := func(path string, resp reflect.Type, f http.HandlerFunc, doc string) Route {
		return Route{Method: http.MethodGet, Path: path, Access: Agent, Handler: f, Response: resp, Doc: doc}
	}
	return Part{
		Name: "coordination",
		Routes: []Route{
			post("/expert/register", TypeOf[RegisterRequest](), TypeOf[ExpertResponse](), h.register,
				"register the caller as an expert with capabilities", publicType(coord.EventExpertRegistered)),
			post("/expert/heartbeat", TypeOf[HeartbeatRequest](), TypeOf[ExpertResponse](), h.heartbeat,
				"keep the caller's expert registration available", publicType(coord.EventExpertHeartbeat)),
			get("/expert/list", TypeOf[ExpertListResponse](), h.list, "every registered expert and its availability"),
			post("/expert/delegate", TypeOf[DelegateRequest](), TypeOf[DelegateResponse](), h.delegate,
				"delegate a tool call to an expert, by name or capability", coordType(coord.EventDelegationCreated)),
			get("/expert/delegations", TypeOf[DelegationListResponse](), h.pendingDelegations, "the caller's pending delegations (as expert)"),
			get("/expert/delegations/{id}", TypeOf[coord.Delegation](), h.delegation, "one delegation, to its requester or expert"),
			post("/expert/delegations/{id}/complete", TypeOf[CompleteRequest](), TypeOf[coord.Delegation](), h.complete,
				"the expert's result of a delegation", coordType(coord.EventDelegationCompleted)),
			post("/task/dispatch", TypeOf[TaskRequest](), TypeOf[TaskDispatchResponse](), h.dispatch,
				"dispatch a task to an agent, by name or capability", coordType(coord.EventTaskDispatched)),
			get("/task/pending", TypeOf[TaskListResponse](), h.pendingTasks, "tasks dispatched to the caller, not completed"),
			get("/task/{id}", TypeOf[coord.Task](), h.task, "one task, to its dispatcher or assignee"),
			post("/task/{id}/complete", TypeOf[CompleteRequest](), TypeOf[coord.Task](), h.completeTask,
				"the assignee's result of a task", coordType(coord.EventTaskCompleted)),
			post("/collaboration/start", TypeOf[CollaborationRequest](), TypeOf[coord.Collaboration](), h.startCollab,
				"start a collaboration among participants", coordType(coord.EventCollaborationStarted)),
			get("/collaboration/{id}", TypeOf[coord.Collaboration](), h.collab, "one collaboration, to its participants"),
			post("/collaboration/{id}/end", TypeOf[EndRequest](), TypeOf[coord.Collaboration](), h.endCollab,
				"end a collaboration (a participant)", coordType(coord.EventCollaborationEnded)),
			post("/elicitation/create", TypeOf[ElicitRequest](), TypeOf[ElicitResponse](), h.elicit,
				"ask another agent a question", coordType(coord.EventElicitationCreated)),
			get("/elicitation/pending", TypeOf[ElicitationListResponse](), h.pendingElicitations, "questions to the caller, open"),
			post("/elicitation/respond", TypeOf[RespondRequest](), TypeOf[coord.Elicitation](), h.respond,
				"answer (addressee) or cancel (asker) a question",
				coordType(coord.EventElicitationResponded), coordType(coord.EventElicitationCancelled)),
			get("/elicitation/status/{id}", TypeOf[coord.Elicitation](), h.elicitationStatus, "one question, to its asker or addressee"),
		},
		// The Bridge expires a delegation itself when its expert does not
		// answer a /validate escalation in time.
		Writes: []EventType{coordType(coord.EventDelegationExpired)},
	}
}

// AddCoordination serves CoordinationPart(c) and exports c's gauges.
func (s *Server) AddCoordination(c *coord.Coordinator) {
	for _, g := range []struct {
		name, help string
		f          func(coord.Counts) int
	}{
		{"lighthouse_experts_registered", "Registered experts.", func(n coord.Counts) int { return n.ExpertsRegistered }},
		{"lighthouse_experts_available", "Experts seen within the idle limit.", func(n coord.Counts) int { return n.ExpertsAvailable }},
		{"lighthouse_delegations_pending", "Delegations waiting for their expert.", func(n coord.Counts) int { return n.DelegationsPending }},
		{"lighthouse_tasks_pending", "Dispatched tasks not completed.", func(n coord.Counts) int { return n.TasksPending }},
		{"lighthouse_elicitations_open", "Questions pending and not expired.", func(n coord.Counts) int { return n.ElicitationsOpen }},
	} {
		s.metrics.GaugeFunc(g.name, g.help, func() float64 { return float64(g.f(c.Counts())) })
	}
	s.Add(CoordinationPart(c))
}

type coordHandlers struct{ c *coord.Coordinator }

// writeCoordErr maps coordination refusals to their statuses; anything
// else is a server fault (the store failed).
func writeCoordErr(w http.ResponseWriter, err error) {
	var ce *coord.Error
	if !errors.As(err, &ce) {
		WriteErr(w, err)
		return
	}
	status := map[coord.Kind]int{
		coord.Invalid: http.StatusBadRequest, coord.Forbidden: http.StatusForbidden, coord.NotFound: http.StatusNotFound,
		coord.Conflict: http.StatusConflict, coord.Gone: http.StatusGone, coord.RateLimited: http.StatusTooManyRequests,
		coord.Full: http.StatusInsufficientStorage,
	}[ce.Kind]
	if ce.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(ce.RetryAfter.Seconds()))))
	}
	WriteError(w, status, ce.Message)
}

// decodeAs decodes a body (an empty one as {} when optional) and checks
// its agent_id against the token. It returns the caller's agent id.
func decodeAs(w http.ResponseWriter, r *http.Request, v any, claimed func() string, optional bool) (string, bool) {
	body, err := readOptional(w, r, optional)
	if err == nil {
		err = DecodeBytes(body, v)
	}
	if err != nil {
		WriteErr(w, err)
		return "", false
	}
	id, err := CheckAgent(r, claimed())
	if err != nil {
		WriteErr(w, err)
		return "", false
	}
	return id.AgentID, true
}

// readOptional reads the body (ReadBody); an empty body of a route whose
// fields are all optional reads as {}.
func readOptional(w http.ResponseWriter, r *http.Request, optional bool) ([]byte, error) {
	body, err := ReadBody(w, r)
	if err != nil {
		return nil, err
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return []byte("{}"), nil
	}
	return body, nil
}

func caller(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := Caller(r)
	if err != nil {
		WriteErr(w, err)
		return "", false
	}
	return id.AgentID, true
}

func answer[T any](w http.ResponseWriter, status int, v T, err error) {
	if err != nil {
		writeCoordErr(w, err)
		return
	}
	WriteJSON(w, status, v)
}

func (h coordHandlers) register(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, false)
	if !ok {
		return
	}
	v, err := h.c.Register(r.Context(), agent, req.Capabilities)
	answer(w, http.StatusOK, ExpertResponse{Status: "registered", Expert: v}, err)
}

func (h coordHandlers) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req HeartbeatRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, true)
	if !ok {
		return
	}
	v, err := h.c.Heartbeat(r.Context(), agent)
	answer(w, http.StatusOK, ExpertResponse{Status: "ok", Expert: v}, err)
}

func (h coordHandlers) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := caller(w, r); !ok {
		return
	}
	xs := h.c.Experts()
	WriteJSON(w, http.StatusOK, ExpertListResponse{Experts: xs, Count: len(xs)})
}

// DelegateResponse is POST /expert/delegate's answer.
type DelegateResponse struct {
	DelegationID string `json:"delegation_id"`
	TargetExpert string `json:"target_expert"`
	Status       string `json:"status"`
}

func (h coordHandlers) delegate(w http.ResponseWriter, r *http.Request) {
	var req DelegateRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, false)
	if !ok {
		return
	}
	d, err := h.c.Delegate(r.Context(), agent, coord.DelegateRequest{
		ToolName: req.ToolName, ToolInput: req.ToolInput, TargetExpert: req.TargetExpert, Capabilities: req.Capabilities,
	})
	answer(w, http.StatusOK, DelegateResponse{DelegationID: d.ID, TargetExpert: d.Target, Status: "delegated"}, err)
}

func (h coordHandlers) pendingDelegations(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	ds, err := h.c.PendingDelegations(agent)
	if err != nil {
		writeCoordErr(w, err)
		return
	}
	ds, cut, release, err := boundList(r, ds, coord.Delegation.Bytes)
	if err != nil {
		WriteErr(w, err)
		return
	}
	defer release()
	WriteJSON(w, http.StatusOK, DelegationListResponse{Delegations: ds, Count: len(ds), Truncated: cut})
}

// maxListBytes bounds one answer listing pending work (the oldest first),
// as MaxQueryBytes bounds a query's.
const maxListBytes = 16 << 20

// boundList keeps the oldest items that fit one answer and charges them
// to the caller's bytes in flight until release: an answer listing work
// holds its items' payloads once more while it is encoded, and many
// unread answers must not multiply that without bound.
func boundList[T any](r *http.Request, items []T, size func(T) int64) (kept []T, truncated bool, release func(), err error) {
	n, i, bound := int64(0), 0, answerBound(r, maxListBytes)
	for ; i < len(items); i++ {
		if i > 0 && n+size(items[i]) > bound {
			break
		}
		n += size(items[i])
	}
	release, err = chargeAnswer(r, n)
	return items[:i], i < len(items), release, err
}

func (h coordHandlers) delegation(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	d, err := h.c.Delegation(agent, r.PathValue("id"))
	answer(w, http.StatusOK, d, err)
}

func (h coordHandlers) complete(w http.ResponseWriter, r *http.Request) {
	var req CompleteRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, false)
	if !ok {
		return
	}
	d, err := h.c.Complete(r.Context(), agent, r.PathValue("id"), req.Result)
	answer(w, http.StatusOK, d, err)
}

func (h coordHandlers) dispatch(w http.ResponseWriter, r *http.Request) {
	var req TaskRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, false)
	if !ok {
		return
	}
	t, err := h.c.Dispatch(r.Context(), agent, coord.TaskRequest{
		TargetAgent: req.TargetAgent, Capabilities: req.Capabilities, Description: req.Description, Data: req.Data,
	})
	answer(w, http.StatusOK, TaskDispatchResponse{TaskID: t.ID, AssignedTo: t.To, Status: "dispatched"}, err)
}

func (h coordHandlers) pendingTasks(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	ts, cut, release, err := boundList(r, h.c.PendingTasks(agent), coord.Task.Bytes)
	if err != nil {
		WriteErr(w, err)
		return
	}
	defer release()
	WriteJSON(w, http.StatusOK, TaskListResponse{Tasks: ts, Count: len(ts), Truncated: cut})
}

func (h coordHandlers) task(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	t, err := h.c.Task(agent, r.PathValue("id"))
	answer(w, http.StatusOK, t, err)
}

func (h coordHandlers) completeTask(w http.ResponseWriter, r *http.Request) {
	var req CompleteRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, true)
	if !ok {
		return
	}
	t, err := h.c.CompleteTask(r.Context(), agent, r.PathValue("id"), req.Result)
	answer(w, http.StatusOK, t, err)
}

func (h coordHandlers) startCollab(w http.ResponseWriter, r *http.Request) {
	var req CollaborationRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, false)
	if !ok {
		return
	}
	c, err := h.c.StartCollaboration(r.Context(), agent, req.Participants, req.Topic)
	answer(w, http.StatusOK, c, err)
}

func (h coordHandlers) collab(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	c, err := h.c.Collaboration(agent, r.PathValue("id"))
	answer(w, http.StatusOK, c, err)
}

func (h coordHandlers) endCollab(w http.ResponseWriter, r *http.Request) {
	var req EndRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, true)
	if !ok {
		return
	}
	c, err := h.c.EndCollaboration(r.Context(), agent, r.PathValue("id"), req.Summary)
	answer(w, http.StatusOK, c, err)
}

// ElicitResponse is POST /elicitation/create's answer.
type ElicitResponse struct {
	ElicitationID string    `json:"elicitation_id"`
	Status        string    `json:"status"`
	ToAgent       string    `json:"to_agent"`
	ExpiresAt     time.Time `json:"expires_at"`
}

func (h coordHandlers) elicit(w http.ResponseWriter, r *http.Request) {
	var req ElicitRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, false)
	if !ok {
		return
	}
	if _, err := CheckAgent(r, req.FromAgent); err != nil {
		WriteErr(w, err)
		return
	}
	e, err := h.c.CreateElicitation(r.Context(), agent, coord.ElicitRequest{
		To: req.ToAgent, Message: req.Message, Schema: req.Schema, TimeoutSeconds: req.TimeoutSeconds,
	})
	answer(w, http.StatusOK, ElicitResponse{ElicitationID: e.ID, Status: e.Status, ToAgent: e.To, ExpiresAt: e.ExpiresAt}, err)
}

func (h coordHandlers) pendingElicitations(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	es, cut, release, err := boundList(r, h.c.PendingElicitations(agent), coord.Elicitation.Bytes)
	if err != nil {
		WriteErr(w, err)
		return
	}
	defer release()
	WriteJSON(w, http.StatusOK, ElicitationListResponse{Elicitations: es, Count: len(es), Truncated: cut})
}

func (h coordHandlers) respond(w http.ResponseWriter, r *http.Request) {
	var req RespondRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, false)
	if !ok {
		return
	}
	e, err := h.c.Respond(r.Context(), agent, req.ElicitationID, req.ResponseType, req.Data)
	answer(w, http.StatusOK, e, err)
}

func (h coordHandlers) elicitationStatus(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	e, err := h.c.ElicitationStatus(agent, r.PathValue("id"))
	answer(w, http.StatusOK, e, err)
}
