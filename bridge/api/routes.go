package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"reflect"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
	"github.com/lighthouse-project/lighthouse/bridge/validate"
)

// corePart is the contract's core routes: health, readiness, metrics,
// sessions, events, validation and backup.
func (s *Server) corePart() Part {
	probe := func(path string, f http.HandlerFunc, resp reflect.Type, doc string) Route {
		return Route{Method: http.MethodGet, Path: path, Access: Public, Handler: f, Response: resp, Probe: true, Doc: doc}
	}
	return Part{
		Name: "core",
		Routes: []Route{
			probe("/health", s.handleHealth, TypeOf[HealthResponse](), "liveness: 200 while the process serves HTTP"),
			probe("/health/live", s.handleHealth, TypeOf[HealthResponse](), "liveness, as /health"),
			probe("/status", s.handleStatus, TypeOf[StatusResponse](), "readiness: 200 when every required component is ready, else 503"),
			probe("/health/ready", s.handleStatus, TypeOf[StatusResponse](), "readiness, as /status"),
			{Method: http.MethodGet, Path: "/metrics", Access: Public, Handler: s.handleMetrics,
				Produces: "text/plain; version=0.0.4", Doc: "Prometheus metrics"},
			{Method: http.MethodPost, Path: "/session/create", Access: Public, Handler: s.handleSessionCreate,
				Request: TypeOf[SessionCreateRequest](), Response: TypeOf[auth.NewSession](),
				Writes: []EventType{{Name: auth.EventSessionCreated, Visibility: Participants}}, // its agent
				Doc:    "a session token for an agent and its key"},
			{Method: http.MethodPost, Path: "/session/validate", Access: Public, Handler: s.handleSessionValidate,
				Request: TypeOf[SessionValidateRequest](), Response: TypeOf[SessionValidateResponse](),
				Doc: "whether a session token is valid for an agent"},
			{Method: http.MethodPost, Path: "/event/store", Access: Agent, Handler: s.handleEventStore,
				Request: TypeOf[EventStoreRequest](), Response: TypeOf[EventStoreResponse](),
				Doc: "append an event of the agent's own type (durable before the answer)"},
			{Method: http.MethodGet, Path: "/event/query", Access: Agent, Handler: s.handleEventQuery,
				Params: queryParams, Response: TypeOf[EventQueryResponse](),
				Doc: "events the caller may read, filtered, by sequence"},
			{Method: http.MethodGet, Path: "/event/stream", Access: Agent, Handler: s.handleEventStream,
				Params: []string{"since"}, Stream: true, Produces: "text/event-stream", Response: TypeOf[store.Event](),
				Doc: "Server-Sent Events: every event the caller may read after since (or Last-Event-ID)"},
			{Method: http.MethodPost, Path: "/validate", Access: Agent, Handler: s.handleValidate,
				Request: TypeOf[ValidateRequest](), Response: TypeOf[ValidateResponse](),
				Writes: []EventType{{Name: EventValidationDecision, Visibility: Participants}},
				Doc:    "decide a tool call (also the legacy {id, tool, input, agent} shape: LegacyValidateRequest)"},
			{Method: http.MethodGet, Path: "/admin/backup", Access: Admin, Handler: s.handleBackup,
				Produces: "application/octet-stream", Doc: "a consistent copy of the live event store"},
		},
		// Any authenticated request slides its session; the Bridge records
		// the refresh itself. An agent reads its own sessions' events.
		Writes: []EventType{{Name: auth.EventSessionRefreshed, Visibility: Participants}},
	}
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.promOnce.Do(func() { s.prom = promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}) })
	s.prom.ServeHTTP(w, r)
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
	WriteJSON(w, http.StatusOK, SessionValidateResponse{Valid: s.auth.Valid(req.SessionToken, req.AgentID)})
}

// SessionValidateResponse is the answer of POST /session/validate.
type SessionValidateResponse struct {
	Valid bool `json:"valid"`
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

// EventQuery is GET /event/query's parameters as a client sends them
// (ParseFilter reads them): the zero value of a field leaves its filter
// out. Since is exclusive: events after it.
type EventQuery struct {
	EventType   string
	AgentID     string
	AggregateID string
	Since       uint64
	StartTime   time.Time
	EndTime     time.Time
	Limit       int // 0: the default (100); at most 1000
}

// Values encodes q as the query string ParseFilter reads; times are
// RFC 3339 with nanoseconds, in UTC.
func (q EventQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("event_type", q.EventType)
	set("agent_id", q.AgentID)
	set("aggregate_id", q.AggregateID)
	if q.Since > 0 {
		v.Set("since", strconv.FormatUint(q.Since, 10))
	}
	if !q.StartTime.IsZero() {
		v.Set("start_time", q.StartTime.UTC().Format(time.RFC3339Nano))
	}
	if !q.EndTime.IsZero() {
		v.Set("end_time", q.EndTime.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

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

// EventQueryResponse is the answer of GET /event/query.
type EventQueryResponse struct {
	Count  int           `json:"count"`
	Events []store.Event `json:"events"`
	// Truncated says the answer stopped before limit events because
	// their data reached the bound on one answer (Limits.MaxQueryBytes)
	// or the bridge's bytes in flight, or because it examined as many
	// events as one answer may (Limits.ScanLimit, most of them perhaps
	// events the reader may not see, LIGHTHOUSE_QUERY_SCAN_LIMIT);
	// NextSince, the sequence of the last event examined, continues it
	// as since.
	Truncated bool   `json:"truncated,omitempty"`
	NextSince uint64 `json:"next_since,omitempty"`
}

func (s *Server) handleEventQuery(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		WriteErr(w, err)
		return
	}
	id, err := Caller(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	g := s.gather(id, f, s.limits.MaxQueryBytes)
	defer g.release()
	out, err := g.run()
	if err != nil {
		WriteErr(w, err)
		return
	}
	writeQueryAnswer(w, out)
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

// ValidationDecisionData is the data of a validation_decision event (its
// fields in the order of the map it replaced, so the bytes are unchanged).
type ValidationDecisionData struct {
	Confidence       float64         `json:"confidence"`
	Decision         string          `json:"decision"`
	Expert           string          `json:"expert"`
	ExpertRequired   bool            `json:"expert_required"`
	Legacy           bool            `json:"legacy"`
	ProcessingTimeMS float64         `json:"processing_time_ms"`
	Reasoning        string          `json:"reasoning"`
	RiskLevel        string          `json:"risk_level"`
	Rule             string          `json:"rule"`
	ToolInput        json.RawMessage `json:"tool_input"`
	ToolName         string          `json:"tool_name"`
}

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
	var buf bytes.Buffer
	newEncoder(&buf).Encode(ValidationDecisionData{
		ToolName: req.ToolName, ToolInput: req.ToolInput, Decision: d.Decision, Reasoning: d.Reasoning,
		Confidence: d.Confidence, RiskLevel: d.RiskLevel, Rule: d.Rule, ExpertRequired: d.ExpertRequired,
		Expert: d.Expert, ProcessingTimeMS: took, Legacy: legacy != nil,
	})
	data := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
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
