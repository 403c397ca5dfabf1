package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
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

// coordRoutes are the routes that write each coordination event type,
// for the 403 of POST /event/store. A type missing here (delegation_expired:
// the Bridge expires delegations itself) is reserved as BridgeOnly.
var coordRoutes = map[string]string{
	coord.EventExpertRegistered:     "POST /expert/register",
	coord.EventExpertHeartbeat:      "POST /expert/heartbeat",
	coord.EventDelegationCreated:    "POST /expert/delegate",
	coord.EventDelegationCompleted:  "POST /expert/delegations/{id}/complete",
	coord.EventTaskDispatched:       "POST /task/dispatch",
	coord.EventTaskCompleted:        "POST /task/{id}/complete",
	coord.EventCollaborationStarted: "POST /collaboration/start",
	coord.EventCollaborationEnded:   "POST /collaboration/{id}/end",
	coord.EventElicitationCreated:   "POST /elicitation/create",
	coord.EventElicitationResponded: "POST /elicitation/respond",
	coord.EventElicitationCancelled: "POST /elicitation/respond (response_type cancel)",
}

// AddCoordination serves the contract's coordination routes from c and
// reserves c's event types, so POST /event/store cannot forge them.
func (s *Server) AddCoordination(c *coord.Coordinator) {
	for _, t := range coord.EventTypes() {
		s.ReserveEventTypesFor(coordRoutes[t], t)
	}
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
	h := coordHandlers{c}
	s.HandleFunc("POST /expert/register", Agent, h.register)
	s.HandleFunc("POST /expert/heartbeat", Agent, h.heartbeat)
	s.HandleFunc("GET /expert/list", Agent, h.list)
	s.HandleFunc("POST /expert/delegate", Agent, h.delegate)
	s.HandleFunc("GET /expert/delegations", Agent, h.pendingDelegations)
	s.HandleFunc("GET /expert/delegations/{id}", Agent, h.delegation)
	s.HandleFunc("POST /expert/delegations/{id}/complete", Agent, h.complete)
	s.HandleFunc("POST /task/dispatch", Agent, h.dispatch)
	s.HandleFunc("GET /task/pending", Agent, h.pendingTasks)
	s.HandleFunc("GET /task/{id}", Agent, h.task)
	s.HandleFunc("POST /task/{id}/complete", Agent, h.completeTask)
	s.HandleFunc("POST /collaboration/start", Agent, h.startCollab)
	s.HandleFunc("GET /collaboration/{id}", Agent, h.collab)
	s.HandleFunc("POST /collaboration/{id}/end", Agent, h.endCollab)
	s.HandleFunc("POST /elicitation/create", Agent, h.elicit)
	s.HandleFunc("GET /elicitation/pending", Agent, h.pendingElicitations)
	s.HandleFunc("POST /elicitation/respond", Agent, h.respond)
	s.HandleFunc("GET /elicitation/status/{id}", Agent, h.elicitationStatus)
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

// readOptional reads the body within MaxBodyBytes; an empty body of a
// route whose fields are all optional reads as {}.
func readOptional(w http.ResponseWriter, r *http.Request, optional bool) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
		}
		return nil, Errorf(http.StatusBadRequest, "reading request body: %v", err)
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
	answer(w, http.StatusOK, map[string]any{"status": "registered", "expert": v}, err)
}

func (h coordHandlers) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req HeartbeatRequest
	agent, ok := decodeAs(w, r, &req, func() string { return req.AgentID }, true)
	if !ok {
		return
	}
	v, err := h.c.Heartbeat(r.Context(), agent)
	answer(w, http.StatusOK, map[string]any{"status": "ok", "expert": v}, err)
}

func (h coordHandlers) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := caller(w, r); !ok {
		return
	}
	xs := h.c.Experts()
	WriteJSON(w, http.StatusOK, map[string]any{"experts": xs, "count": len(xs)})
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
	answer(w, http.StatusOK, map[string]any{"delegations": ds, "count": len(ds)}, err)
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
	answer(w, http.StatusOK, map[string]any{"task_id": t.ID, "assigned_to": t.To, "status": "dispatched"}, err)
}

func (h coordHandlers) pendingTasks(w http.ResponseWriter, r *http.Request) {
	agent, ok := caller(w, r)
	if !ok {
		return
	}
	ts := h.c.PendingTasks(agent)
	WriteJSON(w, http.StatusOK, map[string]any{"tasks": ts, "count": len(ts)})
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
	es := h.c.PendingElicitations(agent)
	WriteJSON(w, http.StatusOK, map[string]any{"elicitations": es, "count": len(es)})
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
