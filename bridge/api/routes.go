package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
	"github.com/lighthouse-project/lighthouse/bridge/validate"
)

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
}

// SessionCreateRequest is the body of POST /session/create.
type SessionCreateRequest struct {
	AgentID  string `json:"agent_id"`
	AgentKey string `json:"agent_key"`
}

func (s *Server) handleSessionCreate(w http.ResponseWriter, r *http.Request) {
	var req SessionCreateRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		WriteErr(w, err)
		return
	}
	if req.AgentID == "" || req.AgentKey == "" {
		WriteError(w, http.StatusBadRequest, "agent_id and agent_key are required")
		return
	}
	if err := auth.ValidAgentID(req.AgentID); err != nil {
		WriteError(w, http.StatusBadRequest, "agent_id: "+err.Error())
		return
	}
	ns, err := s.auth.CreateSession(r.Context(), req.AgentID, req.AgentKey)
	if errors.Is(err, auth.ErrWrongKey) {
		WriteError(w, http.StatusUnauthorized, "agent_key is not the key of agent "+strconv.Quote(req.AgentID))
		return
	}
	if err != nil {
		s.storeFailure(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, ns)
}

// SessionValidateRequest is the body of POST /session/validate.
type SessionValidateRequest struct {
	SessionToken string `json:"session_token"`
	AgentID      string `json:"agent_id"`
}

func (s *Server) handleSessionValidate(w http.ResponseWriter, r *http.Request) {
	var req SessionValidateRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		WriteErr(w, err)
		return
	}
	if req.SessionToken == "" || req.AgentID == "" {
		WriteError(w, http.StatusBadRequest, "session_token and agent_id are required")
		return
	}
	WriteJSON(w, http.StatusOK, map[string]bool{"valid": s.auth.Valid(req.SessionToken, req.AgentID)})
}

// storeFailure answers a failed append: the store is closed or failing,
// which is the server's state, not the client's fault.
func (s *Server) storeFailure(w http.ResponseWriter, err error) {
	s.log.Error("event store append failed", "error", err)
	WriteError(w, http.StatusServiceUnavailable, "event store unavailable: "+err.Error())
}

// EventStoreRequest is the body of POST /event/store.
type EventStoreRequest struct {
	EventType     string          `json:"event_type"`
	AggregateID   string          `json:"aggregate_id,omitempty"`
	AggregateType string          `json:"aggregate_type,omitempty"`
	AgentID       string          `json:"agent_id,omitempty"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$`)

// MaxNameLen bounds event types, aggregate ids and types.
const MaxNameLen = 256

// Check validates the request's fields (the JSON shape is already right).
func (q *EventStoreRequest) Check() error {
	switch {
	case q.EventType == "":
		return Errorf(http.StatusBadRequest, "event_type is required")
	case len(q.EventType) > MaxNameLen || !snakeCase.MatchString(q.EventType):
		return Errorf(http.StatusBadRequest, "event_type %q must be a snake_case name (lowercase letters, digits, single underscores)", q.EventType)
	case len(q.AggregateID) > MaxNameLen || len(q.AggregateType) > MaxNameLen:
		return Errorf(http.StatusBadRequest, "aggregate_id and aggregate_type are limited to %d bytes", MaxNameLen)
	case len(q.Data) == 0 || string(q.Data) == "null":
		return Errorf(http.StatusBadRequest, "data is required (any JSON value but null)")
	case len(q.Metadata) > 0 && string(q.Metadata) != "null" && q.Metadata[0] != '{':
		return Errorf(http.StatusBadRequest, "metadata must be a JSON object")
	}
	if string(q.Metadata) == "null" {
		q.Metadata = nil
	}
	return nil
}

func (s *Server) handleEventStore(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req EventStoreRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		WriteErr(w, err)
		return
	}
	id, err := CheckAgent(r, req.AgentID)
	if err != nil {
		WriteErr(w, err)
		return
	}
	if err := req.Check(); err != nil {
		WriteErr(w, err)
		return
	}
	if err := s.checkUnreserved(req.EventType); err != nil {
		WriteErr(w, err)
		return
	}
	evs, err := s.store.Append(r.Context(), store.Event{
		Type: req.EventType, AggregateID: req.AggregateID, AggregateType: req.AggregateType,
		AgentID: id.AgentID, Data: req.Data, Metadata: req.Metadata,
	})
	if err != nil {
		if r.Context().Err() != nil {
			// The client left before the event was queued: nothing stored.
			return
		}
		s.storeFailure(w, err)
		return
	}
	s.metrics.AppendDuration.Observe(time.Since(start).Seconds())
	WriteJSON(w, http.StatusOK, EventStoreResponse{EventID: evs[0].ID, Sequence: evs[0].Sequence, Status: "stored"})
}

// EventStoreResponse is the answer of POST /event/store (a struct, not a
// map: no reflection over map keys and their sorting on the hot path).
type EventStoreResponse struct {
	EventID  string `json:"event_id"`
	Sequence uint64 `json:"sequence"`
	Status   string `json:"status"`
}

// Query limits from the contract.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000
)

// queryParams are /event/query's parameters, each single-valued.
var queryParams = []string{"event_type", "agent_id", "aggregate_id", "since", "start_time", "end_time", "limit"}

// ParseFilter reads /event/query's parameters. Times are RFC 3339 or unix
// seconds; limit defaults to 100 and must be 1..1000.
func ParseFilter(v url.Values) (store.Filter, error) {
	if err := checkParams(v, queryParams...); err != nil {
		return store.Filter{}, err
	}
	f := store.Filter{Type: v.Get("event_type"), AgentID: v.Get("agent_id"), AggregateID: v.Get("aggregate_id"), Limit: DefaultQueryLimit}
	if s := v.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return f, Errorf(http.StatusBadRequest, "since must be a sequence number (a non-negative integer), got %q", s)
		}
		f.Since = n
	}
	var err error
	if f.Start, err = parseTime("start_time", v.Get("start_time")); err != nil {
		return f, err
	}
	if f.End, err = parseTime("end_time", v.Get("end_time")); err != nil {
		return f, err
	}
	if !f.Start.IsZero() && !f.End.IsZero() && f.End.Before(f.Start) {
		return f, Errorf(http.StatusBadRequest, "end_time is before start_time")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxQueryLimit {
			return f, Errorf(http.StatusBadRequest, "limit must be 1..%d, got %q", MaxQueryLimit, s)
		}
		f.Limit = n
	}
	return f, nil
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && secs >= 0 && secs < 1e11 {
		return time.Unix(0, int64(secs*1e9)).UTC(), nil
	}
	return time.Time{}, Errorf(http.StatusBadRequest, "%s must be an RFC 3339 time or unix seconds, got %q", name, s)
}

func (s *Server) handleEventQuery(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		WriteErr(w, err)
		return
	}
	evs, err := s.store.Query(f)
	if err != nil {
		WriteErr(w, fmt.Errorf("query: %w", err))
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"events": evs, "count": len(evs)})
}

// streamBatch bounds how many events one read transaction collects: the
// stream writes to the client outside any transaction.
const streamBatch = 256

func (s *Server) handleEventStream(w http.ResponseWriter, r *http.Request) {
	if err := checkParams(r.URL.Query(), "since"); err != nil {
		WriteErr(w, err)
		return
	}
	since := s.store.LastSequence()
	q := r.URL.Query().Get("since")
	if q == "" {
		q = r.Header.Get("Last-Event-ID")
	}
	if q != "" {
		n, err := strconv.ParseUint(q, 10, 64)
		if err != nil {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("since must be a sequence number (a non-negative integer), got %q", q))
			return
		}
		since = n
	}
	token, err := auth.BearerToken(r)
	if err != nil { // the auth middleware admitted it, so never
		WriteError(w, http.StatusUnauthorized, err.Error())
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": streaming events after sequence %d\n\n", since)
	if err := rc.Flush(); err != nil {
		return
	}
	ctx := r.Context()
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	for {
		// Events up to applied have reached the session projection, so a
		// session an event among them evicts is already gone when checked.
		applied := s.store.LastSequence()
		if !s.streamSessionValid(w, rc, token) {
			return
		}
		evs, err := s.store.Query(store.Filter{Since: since, Limit: streamBatch})
		if err != nil {
			fmt.Fprintf(w, "event: error\ndata: %q\n\n", err.Error())
			rc.Flush()
			return
		}
		for _, e := range evs {
			if e.Sequence > applied {
				break // committed, not yet applied: sent after the next check
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Sequence, e.Type, b)
			since = e.Sequence
		}
		if len(evs) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
			if len(evs) == streamBatch {
				continue
			}
		}
		changed := s.store.Changed()
		if s.store.LastSequence() > since {
			continue
		}
		select {
		case <-changed:
		case <-beat.C:
			if !s.streamSessionValid(w, rc, token) {
				return
			}
			fmt.Fprint(w, ": keep-alive\n\n")
			if err := rc.Flush(); err != nil {
				return
			}
		case <-ctx.Done():
			return
		case <-s.stopping:
			return
		}
		if s.store.Healthy() != nil {
			return
		}
	}
}

// streamSessionValid re-verifies the stream's session token (the contract
// verifies it on every request; a stream is one request delivering for
// as long as it is open). When the session was evicted by a newer one or
// expired it ends the stream with a final "session_ended" event holding
// the JSON error a new request would get (401) and returns false.
func (s *Server) streamSessionValid(w http.ResponseWriter, rc *http.ResponseController, token string) bool {
	err := s.auth.Check(token)
	if err == nil {
		return true
	}
	b, _ := json.Marshal(map[string]any{"error": "unauthorized", "detail": err.Error(), "status": http.StatusUnauthorized})
	fmt.Fprintf(w, "event: session_ended\ndata: %s\n\n", b)
	rc.Flush()
	return false
}

// ValidateRequest is the body of POST /validate.
type ValidateRequest struct {
	ToolName  string          `json:"tool_name"`
	ToolInput json.RawMessage `json:"tool_input"`
	AgentID   string          `json:"agent_id,omitempty"`
}

// LegacyValidateRequest is the older hook contract's body.
type LegacyValidateRequest struct {
	ID    json.RawMessage `json:"id,omitempty"`
	Tool  string          `json:"tool"`
	Input json.RawMessage `json:"input"`
	Agent string          `json:"agent,omitempty"`
}

// ValidateResponse is the answer of /validate.
type ValidateResponse struct {
	Approved         bool             `json:"approved"`
	Decision         string           `json:"decision"`
	Reasoning        string           `json:"reasoning"`
	Confidence       float64          `json:"confidence"`
	ProcessingTimeMS float64          `json:"processing_time_ms"`
	Metadata         ValidateMetadata `json:"metadata"`
}

// ValidateMetadata is ValidateResponse.metadata.
type ValidateMetadata struct {
	RiskLevel      string `json:"risk_level"`
	CacheHit       bool   `json:"cache_hit"` // decisions are not cached: always false
	ExpertRequired bool   `json:"expert_required"`
	Rule           string `json:"rule"`
	EventID        string `json:"event_id"`
	Sequence       uint64 `json:"sequence"`
}

// LegacyValidateResponse is the older hook contract's answer.
type LegacyValidateResponse struct {
	ID      json.RawMessage `json:"id,omitempty"`
	Status  string          `json:"status"` // approved | review_required | blocked
	Reason  string          `json:"reason"`
	Concern string          `json:"concern"`
}

// DecodeValidate reads either body shape of /validate. legacy tells which.
func DecodeValidate(body []byte) (req validate.Request, legacy *LegacyValidateRequest, err error) {
	var keys map[string]json.RawMessage
	if err := DecodeBytes(body, &keys); err != nil {
		return req, nil, err
	}
	_, hasNew := keys["tool_name"]
	_, hasOld := keys["tool"]
	switch {
	case hasNew:
		var q ValidateRequest
		if err := DecodeBytes(body, &q); err != nil {
			return req, nil, err
		}
		if q.ToolName == "" {
			return req, nil, Errorf(http.StatusBadRequest, "tool_name must not be empty")
		}
		return validate.Request{ToolName: q.ToolName, ToolInput: q.ToolInput, AgentID: q.AgentID}, nil, nil
	case hasOld:
		var q LegacyValidateRequest
		if err := DecodeBytes(body, &q); err != nil {
			return req, nil, err
		}
		if q.Tool == "" {
			return req, nil, Errorf(http.StatusBadRequest, "tool must not be empty")
		}
		return validate.Request{ToolName: q.Tool, ToolInput: q.Input, AgentID: q.Agent}, &q, nil
	}
	return req, nil, Errorf(http.StatusBadRequest, "expected {tool_name, tool_input, agent_id?} or the legacy {id, tool, input, agent}")
}

// EventValidationDecision is the type of the event recording a decision.
const EventValidationDecision = "validation_decision"

func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := readBody(w, r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	req, legacy, err := DecodeValidate(body)
	if err != nil {
		WriteErr(w, err)
		return
	}
	id, err := CheckAgent(r, req.AgentID)
	if err != nil {
		WriteErr(w, err)
		return
	}
	req.AgentID = id.AgentID
	d := s.validator.Validate(r.Context(), req)
	took := float64(time.Since(start).Microseconds()) / 1000
	data, _ := json.Marshal(map[string]any{
		"tool_name": req.ToolName, "tool_input": req.ToolInput, "decision": d.Decision, "reasoning": d.Reasoning,
		"confidence": d.Confidence, "risk_level": d.RiskLevel, "rule": d.Rule, "expert_required": d.ExpertRequired,
		"expert": d.Expert, "processing_time_ms": took, "legacy": legacy != nil,
	})
	evs, err := s.store.Append(r.Context(), store.Event{
		Type: EventValidationDecision, AggregateType: "validation", AgentID: id.AgentID, Data: data,
	})
	if err != nil {
		// A decision that cannot be recorded is not given.
		s.storeFailure(w, err)
		return
	}
	s.metrics.Validations.WithLabelValues(d.Decision, d.Rule).Inc()
	if legacy != nil {
		st := map[string]string{validate.Approved: "approved", validate.Blocked: "blocked", validate.Escalate: "review_required"}[d.Decision]
		concern := ""
		if d.Decision != validate.Approved {
			concern = strings.ReplaceAll(d.Rule, "_", " ")
		}
		WriteJSON(w, http.StatusOK, LegacyValidateResponse{ID: legacy.ID, Status: st, Reason: d.Reasoning, Concern: concern})
		return
	}
	WriteJSON(w, http.StatusOK, ValidateResponse{
		Approved: d.Decision == validate.Approved, Decision: d.Decision, Reasoning: d.Reasoning,
		Confidence: d.Confidence, ProcessingTimeMS: took,
		Metadata: ValidateMetadata{RiskLevel: d.RiskLevel, ExpertRequired: d.ExpertRequired, Rule: d.Rule,
			EventID: evs[0].ID, Sequence: evs[0].Sequence},
	})
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var raw json.RawMessage
	// DecodeJSON into a RawMessage enforces the size limit and JSON syntax.
	if err := DecodeJSON(w, r, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}
