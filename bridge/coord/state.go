package coord

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Event types the coordination projection reads. The HTTP layer reserves
// them, so only the coordination routes write them.
const (
	EventExpertRegistered     = "expert_registered"
	EventExpertHeartbeat      = "expert_heartbeat"
	EventDelegationCreated    = "delegation_created"
	EventDelegationCompleted  = "delegation_completed"
	EventDelegationExpired    = "delegation_expired"
	EventTaskDispatched       = "task_dispatched"
	EventTaskCompleted        = "task_completed"
	EventCollaborationStarted = "collaboration_started"
	EventCollaborationEnded   = "collaboration_ended"
	EventElicitationCreated   = "elicitation_created"
	EventElicitationResponded = "elicitation_responded"
	EventElicitationCancelled = "elicitation_cancelled"
)

// EventTypes lists every event type this package writes, for the HTTP
// layer to reserve.
func EventTypes() []string {
	return []string{
		EventExpertRegistered, EventExpertHeartbeat,
		EventDelegationCreated, EventDelegationCompleted, EventDelegationExpired,
		EventTaskDispatched, EventTaskCompleted,
		EventCollaborationStarted, EventCollaborationEnded,
		EventElicitationCreated, EventElicitationResponded, EventElicitationCancelled,
	}
}

// Statuses of delegations, tasks, collaborations and elicitations.
const (
	StatusPending   = "pending"
	StatusCompleted = "completed"
	StatusExpired   = "expired"
	StatusActive    = "active"
	StatusEnded     = "ended"
	StatusAccepted  = "accepted"
	StatusDeclined  = "declined"
	StatusCancelled = "cancelled"
)

// Delegation kinds: an agent's own request, or a /validate escalation
// whose result must carry a decision.
const (
	KindDelegation = "delegation"
	KindValidation = "validation"
)

// Expert is a registered expert. LastSeen is the time of its newest
// registration, heartbeat or completion, as recorded in the log.
type Expert struct {
	AgentID      string    `json:"agent_id"`
	Capabilities []string  `json:"capabilities"`
	RegisteredAt time.Time `json:"registered_at"`
	LastSeen     time.Time `json:"last_seen"`
}

// Delegation is one piece of work routed to an expert.
type Delegation struct {
	ID           string          `json:"delegation_id"`
	Kind         string          `json:"kind"`
	Requester    string          `json:"requester"`
	Target       string          `json:"target_expert"`
	ToolName     string          `json:"tool_name"`
	ToolInput    json.RawMessage `json:"tool_input,omitempty"`
	Capabilities []string        `json:"capabilities,omitempty"`
	Status       string          `json:"status"`
	Result       json.RawMessage `json:"result,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	CompletedAt  *time.Time      `json:"completed_at,omitempty"`
	Sequence     uint64          `json:"sequence"`
}

// Task is work dispatched to an agent.
type Task struct {
	ID          string          `json:"task_id"`
	From        string          `json:"from_agent"`
	To          string          `json:"assigned_to"`
	Description string          `json:"description"`
	Data        json.RawMessage `json:"data,omitempty"`
	Status      string          `json:"status"`
	Result      json.RawMessage `json:"result,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
	Sequence    uint64          `json:"sequence"`
}

// Collaboration is a named group of agents working on one topic.
type Collaboration struct {
	ID           string     `json:"collaboration_id"`
	Starter      string     `json:"started_by"`
	Participants []string   `json:"participants"`
	Topic        string     `json:"topic"`
	Status       string     `json:"status"`
	Summary      string     `json:"summary,omitempty"`
	EndedBy      string     `json:"ended_by,omitempty"`
	StartedAt    time.Time  `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
}

// Elicitation is one agent's question to another. Status is as recorded;
// an unanswered one past ExpiresAt reads as expired (View).
type Elicitation struct {
	ID           string          `json:"elicitation_id"`
	From         string          `json:"from_agent"`
	To           string          `json:"to_agent"`
	Message      string          `json:"message"`
	Schema       json.RawMessage `json:"schema,omitempty"`
	Status       string          `json:"status"`
	ResponseType string          `json:"response_type,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	ExpiresAt    time.Time       `json:"expires_at"`
	RespondedAt  *time.Time      `json:"responded_at,omitempty"`
	Sequence     uint64          `json:"sequence"`
}

// State is the whole coordination projection: plain data, so a snapshot
// can store it (MarshalState) and restore it (RestoreState). Creates and
// Responses hold each agent's elicitation creates and responses of the
// last rate window, so a restart does not reset the rate limits.
type State struct {
	// Sequence is the newest event applied: a snapshot of this state
	// replays the log after it.
	Sequence       uint64                    `json:"sequence"`
	Experts        map[string]*Expert        `json:"experts"`
	Delegations    map[string]*Delegation    `json:"delegations"`
	Tasks          map[string]*Task          `json:"tasks"`
	Collaborations map[string]*Collaboration `json:"collaborations"`
	Elicitations   map[string]*Elicitation   `json:"elicitations"`
	Creates        map[string][]time.Time    `json:"elicitation_creates"`
	Responses      map[string][]time.Time    `json:"elicitation_responses"`

	// Derived indexes, never serialised (reindex rebuilds them): the
	// pending items per addressee, so routing, queue bounds and the
	// pending lists cost the size of one queue, not of the whole history.
	pendingDel, pendingTask, openElicit map[string]map[string]bool
	// due is the retention queue (retention.go), derived likewise.
	due dueHeap
	// held are the bytes of the items charged to each agent, heldTotal
	// their sum (budget.go), derived likewise.
	held      map[string]int64
	heldTotal int64
}

func newState() *State {
	st := &State{
		Experts: map[string]*Expert{}, Delegations: map[string]*Delegation{}, Tasks: map[string]*Task{},
		Collaborations: map[string]*Collaboration{}, Elicitations: map[string]*Elicitation{},
		Creates: map[string][]time.Time{}, Responses: map[string][]time.Time{},
	}
	st.reindex()
	return st
}

// reindex rebuilds the derived indexes from the maps.
func (st *State) reindex() {
	st.pendingDel, st.pendingTask, st.openElicit = map[string]map[string]bool{}, map[string]map[string]bool{}, map[string]map[string]bool{}
	for id, d := range st.Delegations {
		if d.Status == StatusPending {
			setAdd(st.pendingDel, d.Target, id)
		}
	}
	for id, t := range st.Tasks {
		if t.Status == StatusPending {
			setAdd(st.pendingTask, t.To, id)
		}
	}
	for id, e := range st.Elicitations {
		if e.Status == StatusPending {
			setAdd(st.openElicit, e.To, id)
		}
	}
	st.rebuildDue()
	st.recount()
}

func setAdd(m map[string]map[string]bool, key, id string) {
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][id] = true
}

func setDel(m map[string]map[string]bool, key, id string) {
	delete(m[key], id)
	if len(m[key]) == 0 {
		delete(m, key)
	}
}

// Event payloads. The acting agent is never in the payload: it is the
// event's AgentID, set from the session token.
type (
	expertRegistered struct {
		Capabilities []string `json:"capabilities"`
	}
	delegationCreated struct {
		DelegationID string          `json:"delegation_id"`
		Kind         string          `json:"kind"`
		Target       string          `json:"target_expert"`
		ToolName     string          `json:"tool_name"`
		ToolInput    json.RawMessage `json:"tool_input,omitempty"`
		Capabilities []string        `json:"capabilities,omitempty"`
	}
	delegationCompleted struct {
		DelegationID string          `json:"delegation_id"`
		Result       json.RawMessage `json:"result"`
	}
	delegationExpired struct {
		DelegationID string `json:"delegation_id"`
		Reason       string `json:"reason"`
	}
	taskDispatched struct {
		TaskID      string          `json:"task_id"`
		To          string          `json:"assigned_to"`
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data,omitempty"`
	}
	taskCompleted struct {
		TaskID string          `json:"task_id"`
		Result json.RawMessage `json:"result,omitempty"`
	}
	collaborationStarted struct {
		CollaborationID string   `json:"collaboration_id"`
		Participants    []string `json:"participants"`
		Topic           string   `json:"topic"`
	}
	collaborationEnded struct {
		CollaborationID string `json:"collaboration_id"`
		Summary         string `json:"summary,omitempty"`
	}
	elicitationCreated struct {
		ElicitationID string          `json:"elicitation_id"`
		To            string          `json:"to_agent"`
		Message       string          `json:"message"`
		Schema        json.RawMessage `json:"schema,omitempty"`
		ExpiresAt     time.Time       `json:"expires_at"`
	}
	elicitationResponded struct {
		ElicitationID string          `json:"elicitation_id"`
		ResponseType  string          `json:"response_type"`
		Data          json.RawMessage `json:"data,omitempty"`
	}
)

// apply folds one event into st. It re-checks every transition against
// the state (actor, status), so an event that does not fit — a duplicate
// completion, a late answer — changes nothing. It returns the ids of
// delegations that stopped being pending, for the escalation waiters.
func (st *State) apply(e store.Event) (settled string, err error) {
	actor, at := e.AgentID, e.Timestamp
	st.prune(at)
	if actor == "" {
		return "", nil
	}
	decode := func(v any) error {
		if err := json.Unmarshal(e.Data, v); err != nil {
			return fmt.Errorf("%s: %w", e.Type, err)
		}
		return nil
	}
	switch e.Type {
	case EventExpertRegistered:
		var d expertRegistered
		if err := decode(&d); err != nil {
			return "", err
		}
		x := st.Experts[actor]
		if x == nil {
			x = &Expert{AgentID: actor, RegisteredAt: at}
			st.Experts[actor] = x
		}
		x.Capabilities = normaliseCaps(d.Capabilities)
		x.LastSeen = later(x.LastSeen, at)
	case EventExpertHeartbeat:
		if x := st.Experts[actor]; x != nil {
			x.LastSeen = later(x.LastSeen, at)
		}
	case EventDelegationCreated:
		var d delegationCreated
		if err := decode(&d); err != nil {
			return "", err
		}
		if d.DelegationID == "" || st.Delegations[d.DelegationID] != nil {
			return "", nil
		}
		kind := d.Kind
		if kind != KindValidation {
			kind = KindDelegation
		}
		dl := &Delegation{
			ID: d.DelegationID, Kind: kind, Requester: actor, Target: d.Target, ToolName: d.ToolName,
			ToolInput: d.ToolInput, Capabilities: d.Capabilities, Status: StatusPending, CreatedAt: at, Sequence: e.Sequence,
		}
		st.Delegations[d.DelegationID] = dl
		st.hold(1, dl.charges())
		setAdd(st.pendingDel, d.Target, d.DelegationID)
	case EventDelegationCompleted:
		var d delegationCompleted
		if err := decode(&d); err != nil {
			return "", err
		}
		dl := st.Delegations[d.DelegationID]
		if dl == nil || dl.Status != StatusPending || dl.Target != actor {
			return "", nil
		}
		st.hold(-1, dl.charges())
		dl.Status, dl.Result, dl.CompletedAt = StatusCompleted, d.Result, &at
		st.hold(1, dl.charges())
		setDel(st.pendingDel, dl.Target, dl.ID)
		st.forgetAfter(itemDelegation, dl.ID, at)
		if x := st.Experts[actor]; x != nil {
			x.LastSeen = later(x.LastSeen, at)
		}
		return dl.ID, nil
	case EventDelegationExpired:
		var d delegationExpired
		if err := decode(&d); err != nil {
			return "", err
		}
		dl := st.Delegations[d.DelegationID]
		if dl == nil || dl.Status != StatusPending || dl.Requester != actor {
			return "", nil
		}
		dl.Status, dl.CompletedAt = StatusExpired, &at
		setDel(st.pendingDel, dl.Target, dl.ID)
		st.forgetAfter(itemDelegation, dl.ID, at)
		return dl.ID, nil
	case EventTaskDispatched:
		var d taskDispatched
		if err := decode(&d); err != nil {
			return "", err
		}
		if d.TaskID == "" || st.Tasks[d.TaskID] != nil {
			return "", nil
		}
		t := &Task{ID: d.TaskID, From: actor, To: d.To, Description: d.Description, Data: d.Data,
			Status: StatusPending, CreatedAt: at, Sequence: e.Sequence}
		st.Tasks[d.TaskID] = t
		st.hold(1, t.charges())
		setAdd(st.pendingTask, d.To, d.TaskID)
	case EventTaskCompleted:
		var d taskCompleted
		if err := decode(&d); err != nil {
			return "", err
		}
		if t := st.Tasks[d.TaskID]; t != nil && t.Status == StatusPending && t.To == actor {
			st.hold(-1, t.charges())
			t.Status, t.Result, t.CompletedAt = StatusCompleted, d.Result, &at
			st.hold(1, t.charges())
			setDel(st.pendingTask, t.To, t.ID)
			st.forgetAfter(itemTask, t.ID, at)
		}
	case EventCollaborationStarted:
		var d collaborationStarted
		if err := decode(&d); err != nil {
			return "", err
		}
		if d.CollaborationID == "" || st.Collaborations[d.CollaborationID] != nil {
			return "", nil
		}
		c := &Collaboration{ID: d.CollaborationID, Starter: actor,
			Participants: participants(actor, d.Participants), Topic: d.Topic, Status: StatusActive, StartedAt: at}
		st.Collaborations[d.CollaborationID] = c
		st.hold(1, c.charges())
	case EventCollaborationEnded:
		var d collaborationEnded
		if err := decode(&d); err != nil {
			return "", err
		}
		if c := st.Collaborations[d.CollaborationID]; c != nil && c.Status == StatusActive && slices.Contains(c.Participants, actor) {
			st.hold(-1, c.charges())
			c.Status, c.Summary, c.EndedBy, c.EndedAt = StatusEnded, d.Summary, actor, &at
			st.hold(1, c.charges())
			st.forgetAfter(itemCollaboration, c.ID, at)
		}
	case EventElicitationCreated:
		var d elicitationCreated
		if err := decode(&d); err != nil {
			return "", err
		}
		if d.ElicitationID == "" || st.Elicitations[d.ElicitationID] != nil {
			return "", nil
		}
		el := &Elicitation{ID: d.ElicitationID, From: actor, To: d.To, Message: d.Message,
			Schema: d.Schema, Status: StatusPending, CreatedAt: at, ExpiresAt: d.ExpiresAt, Sequence: e.Sequence}
		st.Elicitations[d.ElicitationID] = el
		st.hold(1, el.charges())
		// Questions to this addressee that expired unanswered leave its index.
		for id := range st.openElicit[d.To] {
			if !at.Before(st.Elicitations[id].ExpiresAt) {
				setDel(st.openElicit, d.To, id)
			}
		}
		setAdd(st.openElicit, d.To, d.ElicitationID)
		st.forgetAfter(itemElicitation, d.ElicitationID, d.ExpiresAt)
		st.Creates[actor] = window(append(st.Creates[actor], at), at)
	case EventElicitationResponded, EventElicitationCancelled:
		var d elicitationResponded
		if err := decode(&d); err != nil {
			return "", err
		}
		el := st.Elicitations[d.ElicitationID]
		if el == nil || el.Status != StatusPending || !at.Before(el.ExpiresAt) {
			return "", nil
		}
		var status string
		switch {
		case e.Type == EventElicitationCancelled && actor == el.From:
			status = StatusCancelled
		case e.Type == EventElicitationResponded && actor == el.To && d.ResponseType == ResponseAccept:
			status = StatusAccepted
		case e.Type == EventElicitationResponded && actor == el.To && d.ResponseType == ResponseDecline:
			status = StatusDeclined
		default:
			return "", nil
		}
		st.hold(-1, el.charges())
		el.Status, el.ResponseType, el.Data, el.RespondedAt = status, d.ResponseType, d.Data, &at
		st.hold(1, el.charges())
		setDel(st.openElicit, el.To, el.ID)
		st.forgetAfter(itemElicitation, el.ID, at)
		st.Responses[actor] = window(append(st.Responses[actor], at), at)
	}
	return "", nil
}

// window keeps the times within RateWindow before now.
func window(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-RateWindow)) {
		i++
	}
	return append([]time.Time(nil), ts[i:]...)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// normaliseCaps sorts and de-duplicates capabilities.
func normaliseCaps(caps []string) []string {
	out := append([]string(nil), caps...)
	sort.Strings(out)
	return slices.Compact(out)
}

// participants is the starter plus the named agents, sorted, unique.
func participants(starter string, named []string) []string {
	return normaliseCaps(append([]string{starter}, named...))
}
