package coord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Limits from the contract, and the bounds that keep every queue finite.
const (
	// IdleAfter is how long after its last sign of life an expert stops
	// being available.
	IdleAfter = 5 * time.Minute
	// RateWindow is the window of the elicitation rate limits.
	RateWindow = time.Minute
	// MaxCreatesPerWindow and MaxResponsesPerWindow are per agent.
	MaxCreatesPerWindow   = 10
	MaxResponsesPerWindow = 20
	// MaxPendingPerAgent bounds each agent's queue of pending delegations,
	// tasks and elicitations addressed to it.
	MaxPendingPerAgent = 256
	// DefaultElicitationTimeout applies when timeout_seconds is absent;
	// MaxElicitationTimeout is the longest a question may stay open.
	DefaultElicitationTimeout = 5 * time.Minute
	MaxElicitationTimeout     = 24 * time.Hour
	// MaxCapabilities bounds one registration.
	MaxCapabilities = 32
)

// Elicitation response types.
const (
	ResponseAccept  = "accept"
	ResponseDecline = "decline"
	ResponseCancel  = "cancel"
)

// Kind classifies an Error for the HTTP layer.
type Kind int

// Error kinds, each one HTTP status.
const (
	Invalid     Kind = iota // 400
	Forbidden               // 403
	NotFound                // 404
	Conflict                // 409
	Gone                    // 410
	RateLimited             // 429
	Full                    // 507: the coordination state is at its bound (Limits)
)

// Error is a refusal the caller can act on. RetryAfter is set for
// RateLimited and full queues.
type Error struct {
	Kind       Kind
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Appender is the part of the store the coordinator writes through.
type Appender interface {
	Append(ctx context.Context, events ...store.Event) ([]store.Event, error)
}

// Options are a Coordinator's dependencies.
type Options struct {
	Store Appender
	// Now is the clock; default time.Now. It must be the store's clock,
	// since event timestamps decide expiry and rate windows.
	Now func() time.Time
	// Stopping, closed when the Bridge begins to shut down, ends every
	// escalation wait at once (the caller gets the safe default), so no
	// validation holds the shutdown for its whole timeout.
	Stopping <-chan struct{}
	// Limits bound the bytes of state; zero fields take the defaults.
	Limits Limits
}

// Coordinator owns the coordination state. It is a store.Projection (add
// it with AddProjection before the log is replayed) and a
// validate.Escalator.
type Coordinator struct {
	store    Appender
	now      func() time.Time
	stopping <-chan struct{}
	limits   Limits

	// writeMu serialises check-then-append, so two requests cannot both
	// pass a check (a queue bound, a rate limit, a pending status) that only
	// one of them may pass.
	writeMu sync.Mutex

	mu      sync.RWMutex // guards st and waiters
	st      *State
	waiters map[string]chan struct{} // escalations waiting for a delegation to settle
}

// New returns an empty Coordinator.
func New(o Options) *Coordinator {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Coordinator{store: o.Store, now: o.Now, stopping: o.Stopping, limits: o.Limits.withDefaults(), st: newState(), waiters: map[string]chan struct{}{}}
}

// Apply implements store.Projection.
func (c *Coordinator) Apply(e store.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Sequence != 0 && e.Sequence <= c.st.Sequence {
		// Already applied: a replay that starts before a restored
		// snapshot's sequence changes nothing.
		return nil
	}
	c.st.Sequence = max(c.st.Sequence, e.Sequence)
	id, err := c.st.apply(e)
	if ch, ok := c.waiters[id]; ok && id != "" {
		close(ch)
		delete(c.waiters, id)
	}
	return err
}

// MarshalState serialises the projection for a snapshot section.
func (c *Coordinator) MarshalState() ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	// Not escaped for HTML: each '<' of a payload would take six bytes.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c.st); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// RestoreState replaces the projection with a snapshot section written by
// MarshalState; replay of the log's tail follows.
func (c *Coordinator) RestoreState(b []byte) error {
	st := &State{}
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("coordination snapshot: %w", err)
	}
	for _, m := range []bool{st.Experts == nil, st.Delegations == nil, st.Tasks == nil, st.Collaborations == nil, st.Elicitations == nil} {
		if m {
			return errors.New("coordination snapshot: a section is missing")
		}
	}
	if st.Creates == nil {
		st.Creates = map[string][]time.Time{}
	}
	if st.Responses == nil {
		st.Responses = map[string][]time.Time{}
	}
	st.reindex()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st = st
	return nil
}

// append writes one event acted by agent.
func (c *Coordinator) append(ctx context.Context, agent, typ, aggType, aggID string, data any) (store.Event, error) {
	// Not escaped for HTML: a payload's '<' would take six bytes.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		return store.Event{}, err
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	evs, err := c.store.Append(ctx, store.Event{Type: typ, AgentID: agent, AggregateType: aggType, AggregateID: aggID, Data: raw})
	if err != nil {
		return store.Event{}, err
	}
	return evs[0], nil
}

var capPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

func checkCaps(caps []string) error {
	if len(caps) == 0 {
		return errorf(Invalid, "capabilities must name at least one capability, e.g. [\"security\"]")
	}
	if len(caps) > MaxCapabilities {
		return errorf(Invalid, "at most %d capabilities, got %d", MaxCapabilities, len(caps))
	}
	for _, cp := range caps {
		if !capPattern.MatchString(cp) {
			return errorf(Invalid, "capability %q must be lower case letters, digits, '_', '.' or '-', starting with a letter, at most 64 characters", cp)
		}
	}
	return nil
}

// ExpertView is an expert as /expert/list shows it.
type ExpertView struct {
	Expert
	Status  string `json:"status"` // available, busy or unavailable
	Pending int    `json:"pending_delegations"`
}

// Expert statuses.
const (
	ExpertAvailable   = "available"
	ExpertBusy        = "busy"
	ExpertUnavailable = "unavailable"
)

// Register records agent as an expert with caps (a later registration
// replaces the capabilities).
func (c *Coordinator) Register(ctx context.Context, agent string, caps []string) (ExpertView, error) {
	if err := checkCaps(caps); err != nil {
		return ExpertView{}, err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, err := c.append(ctx, agent, EventExpertRegistered, "expert", agent, expertRegistered{Capabilities: caps}); err != nil {
		return ExpertView{}, err
	}
	v, _ := c.expert(agent)
	return v, nil
}

// Heartbeat records that expert agent is alive.
func (c *Coordinator) Heartbeat(ctx context.Context, agent string) (ExpertView, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, ok := c.expert(agent); !ok {
		return ExpertView{}, notExpert(agent)
	}
	if _, err := c.append(ctx, agent, EventExpertHeartbeat, "expert", agent, struct{}{}); err != nil {
		return ExpertView{}, err
	}
	v, _ := c.expert(agent)
	return v, nil
}

func notExpert(agent string) *Error {
	return errorf(Forbidden, "agent %q is not a registered expert: POST /expert/register first", agent)
}

// Experts lists every registered expert, sorted by id.
func (c *Coordinator) Experts() []ExpertView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := c.now()
	out := make([]ExpertView, 0, len(c.st.Experts))
	for _, x := range c.st.Experts {
		out = append(out, c.viewLocked(x, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out
}

func (c *Coordinator) expert(agent string) (ExpertView, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	x := c.st.Experts[agent]
	if x == nil {
		return ExpertView{}, false
	}
	return c.viewLocked(x, c.now()), true
}

func (c *Coordinator) viewLocked(x *Expert, now time.Time) ExpertView {
	v := ExpertView{Expert: *x, Pending: c.pendingForLocked(x.AgentID)}
	v.Capabilities = slices.Clone(x.Capabilities)
	switch {
	case now.Sub(x.LastSeen) >= IdleAfter:
		v.Status = ExpertUnavailable
	case v.Pending > 0:
		v.Status = ExpertBusy
	default:
		v.Status = ExpertAvailable
	}
	return v
}

func (c *Coordinator) pendingForLocked(agent string) int { return len(c.st.pendingDel[agent]) }

// pickLocked chooses an available expert holding every capability in
// need (any one of anyOf, when given), other than exclude: the least
// loaded first, then the most recently seen, then by id, so routing is
// deterministic. Idle (5 minutes) experts are never picked.
func (c *Coordinator) pickLocked(now time.Time, need, anyOf []string, exclude string) (string, bool) {
	type cand struct {
		id      string
		pending int
		seen    time.Time
	}
	var cs []cand
	for id, x := range c.st.Experts {
		if id == exclude || now.Sub(x.LastSeen) >= IdleAfter {
			continue
		}
		ok := true
		for _, n := range need {
			ok = ok && slices.Contains(x.Capabilities, n)
		}
		if len(anyOf) > 0 {
			ok = ok && slices.ContainsFunc(anyOf, func(a string) bool { return slices.Contains(x.Capabilities, a) })
		}
		if ok {
			cs = append(cs, cand{id, c.pendingForLocked(id), x.LastSeen})
		}
	}
	if len(cs) == 0 {
		return "", false
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.pending != b.pending {
			return a.pending < b.pending
		}
		if !a.seen.Equal(b.seen) {
			return a.seen.After(b.seen)
		}
		return a.id < b.id
	})
	return cs[0].id, true
}

// DelegateRequest is a delegation: to TargetExpert by name, or to an
// available expert holding all Capabilities.
type DelegateRequest struct {
	ToolName     string
	ToolInput    json.RawMessage
	TargetExpert string
	Capabilities []string
}

// Delegate routes a tool call to an expert and returns the delegation.
func (c *Coordinator) Delegate(ctx context.Context, agent string, r DelegateRequest) (Delegation, error) {
	if strings.TrimSpace(r.ToolName) == "" {
		return Delegation{}, errorf(Invalid, "tool_name is required")
	}
	switch {
	case r.TargetExpert != "" && len(r.Capabilities) > 0:
		return Delegation{}, errorf(Invalid, "give target_expert or capabilities, not both")
	case r.TargetExpert == "" && len(r.Capabilities) == 0:
		return Delegation{}, errorf(Invalid, "give target_expert (an expert's agent id) or capabilities (to route to any available expert holding them)")
	case r.TargetExpert == agent:
		// As routing by capabilities never picks the requester: a
		// delegation is a second opinion, not a note to oneself.
		return Delegation{}, errorf(Conflict, "agent %q cannot delegate to itself: name another expert in target_expert, or give capabilities to route to any other available expert", agent)
	case len(r.Capabilities) > 0:
		if err := checkCaps(r.Capabilities); err != nil {
			return Delegation{}, err
		}
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	now := c.now()
	c.mu.RLock()
	target := r.TargetExpert
	var rerr *Error
	if target != "" {
		x := c.st.Experts[target]
		switch {
		case x == nil:
			rerr = errorf(NotFound, "no expert %q is registered", target)
		case now.Sub(x.LastSeen) >= IdleAfter:
			rerr = errorf(Conflict, "expert %q is unavailable: no heartbeat since %s (idle limit %s)", target, x.LastSeen.UTC().Format(time.RFC3339), IdleAfter)
		}
	} else if t, ok := c.pickLocked(now, normaliseCaps(r.Capabilities), nil, agent); ok {
		target = t
	} else {
		rerr = errorf(Conflict, "no available expert has the capabilities %v", normaliseCaps(r.Capabilities))
	}
	if rerr == nil && c.pendingForLocked(target) >= MaxPendingPerAgent {
		rerr = &Error{Kind: RateLimited, RetryAfter: 30 * time.Second,
			Message: fmt.Sprintf("expert %q already has %d pending delegations; retry later", target, MaxPendingPerAgent)}
	}
	c.mu.RUnlock()
	if rerr != nil {
		return Delegation{}, rerr
	}
	return c.createDelegationWith(ctx, agent, target, KindDelegation, r, nil)
}

// createDelegationWith appends a delegation_created event; writeMu is
// held. before, if set, sees the new id before the event is appended.
func (c *Coordinator) createDelegationWith(ctx context.Context, agent, target, kind string, r DelegateRequest, before func(id string)) (Delegation, error) {
	caps := normaliseCaps(r.Capabilities)
	size := (&Delegation{Requester: agent, ToolName: r.ToolName, ToolInput: r.ToolInput, Capabilities: caps}).charges()[0].n
	if err := c.roomFor(agent, size, "delegation"); err != nil {
		return Delegation{}, err
	}
	id := uuid.NewString()
	if before != nil {
		before(id)
	}
	_, err := c.append(ctx, agent, EventDelegationCreated, "delegation", id, delegationCreated{
		DelegationID: id, Kind: kind, Target: target, ToolName: r.ToolName, ToolInput: r.ToolInput,
		Capabilities: normaliseCaps(r.Capabilities),
	})
	if err != nil {
		return Delegation{}, err
	}
	d, _ := c.delegation(id)
	return d, nil
}

func (c *Coordinator) delegation(id string) (Delegation, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := c.st.Delegations[id]
	if d == nil {
		return Delegation{}, false
	}
	return *d, true
}

// PendingDelegations is expert agent's pending work, oldest first.
func (c *Coordinator) PendingDelegations(agent string) ([]Delegation, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.st.Experts[agent] == nil {
		return nil, notExpert(agent)
	}
	out := []Delegation{}
	for id := range c.st.pendingDel[agent] {
		out = append(out, *c.st.Delegations[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sequence < out[j].Sequence })
	return out, nil
}

// Delegation returns delegation id to its requester or its expert.
func (c *Coordinator) Delegation(agent, id string) (Delegation, error) {
	d, ok := c.delegation(id)
	if !ok {
		return Delegation{}, errorf(NotFound, "no delegation %q (settled ones are kept for %s; the event log keeps them all)", id, Retention)
	}
	if agent != d.Requester && agent != d.Target {
		return Delegation{}, errorf(Forbidden, "delegation %q belongs to %q and %q", id, d.Requester, d.Target)
	}
	return d, nil
}

// ExpertDecision is the result an expert gives a validation delegation.
type ExpertDecision struct {
	Decision   string   `json:"decision"`
	Reasoning  string   `json:"reasoning"`
	Confidence *float64 `json:"confidence,omitempty"`
	RiskLevel  string   `json:"risk_level,omitempty"`
}

func parseDecision(result json.RawMessage) (ExpertDecision, error) {
	var d ExpertDecision
	if err := json.Unmarshal(result, &d); err != nil {
		return d, errorf(Invalid, "the result of a validation delegation must be an object {decision, reasoning}: %v", err)
	}
	if d.Decision != "approved" && d.Decision != "blocked" {
		return d, errorf(Invalid, "result.decision must be \"approved\" or \"blocked\", got %q", d.Decision)
	}
	if strings.TrimSpace(d.Reasoning) == "" {
		return d, errorf(Invalid, "result.reasoning must say why")
	}
	if d.Confidence != nil && (*d.Confidence < 0 || *d.Confidence > 1 || math.IsNaN(*d.Confidence)) {
		return d, errorf(Invalid, "result.confidence must be between 0 and 1")
	}
	switch d.RiskLevel {
	case "", "low", "medium", "high":
	default:
		return d, errorf(Invalid, "result.risk_level must be low, medium or high")
	}
	return d, nil
}

// Complete settles delegation id with result; only its expert may.
func (c *Coordinator) Complete(ctx context.Context, agent, id string, result json.RawMessage) (Delegation, error) {
	if len(result) == 0 || string(result) == "null" {
		return Delegation{}, errorf(Invalid, "result is required")
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	d, ok := c.delegation(id)
	switch {
	case !ok:
		return Delegation{}, errorf(NotFound, "no delegation %q (settled ones are kept for %s; the event log keeps them all)", id, Retention)
	case d.Target != agent:
		return Delegation{}, errorf(Forbidden, "delegation %q is assigned to %q; only that expert completes it", id, d.Target)
	case d.Status != StatusPending:
		return Delegation{}, errorf(Conflict, "delegation %q is already %s", id, d.Status)
	}
	if d.Kind == KindValidation {
		if _, err := parseDecision(result); err != nil {
			return Delegation{}, err
		}
	}
	if err := c.roomFor(agent, int64(len(result)), "result"); err != nil {
		return Delegation{}, err
	}
	if _, err := c.append(ctx, agent, EventDelegationCompleted, "delegation", id, delegationCompleted{DelegationID: id, Result: result}); err != nil {
		return Delegation{}, err
	}
	d, _ = c.delegation(id)
	return d, nil
}

// Counts are the coordination gauges /metrics reports.
type Counts struct {
	ExpertsAvailable   int // registered and not idle (busy ones included)
	ExpertsRegistered  int
	DelegationsPending int
	TasksPending       int
	ElicitationsOpen   int // pending and unexpired
}

// Counts reads the gauges at the current time.
func (c *Coordinator) Counts() Counts {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := Counts{ExpertsRegistered: len(c.st.Experts)}
	for _, x := range c.st.Experts {
		if now.Sub(x.LastSeen) < IdleAfter {
			n.ExpertsAvailable++
		}
	}
	for _, s := range c.st.pendingDel {
		n.DelegationsPending += len(s)
	}
	for _, s := range c.st.pendingTask {
		n.TasksPending += len(s)
	}
	for _, s := range c.st.openElicit {
		for id := range s {
			if now.Before(c.st.Elicitations[id].ExpiresAt) {
				n.ElicitationsOpen++
			}
		}
	}
	return n
}
