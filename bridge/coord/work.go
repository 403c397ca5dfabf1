package coord

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MaxParticipants bounds one collaboration.
const MaxParticipants = 64

// TaskRequest dispatches a task to TargetAgent, or to an available expert
// holding all Capabilities.
type TaskRequest struct {
	TargetAgent  string
	Capabilities []string
	Description  string
	Data         json.RawMessage
}

// Dispatch creates a task.
func (c *Coordinator) Dispatch(ctx context.Context, agent string, r TaskRequest) (Task, error) {
	if strings.TrimSpace(r.Description) == "" {
		return Task{}, errorf(Invalid, "description is required")
	}
	switch {
	case r.TargetAgent != "" && len(r.Capabilities) > 0:
		return Task{}, errorf(Invalid, "give target_agent or capabilities, not both")
	case r.TargetAgent == "" && len(r.Capabilities) == 0:
		return Task{}, errorf(Invalid, "give target_agent (an agent id) or capabilities (to route to an available expert)")
	case len(r.Capabilities) > 0:
		if err := checkCaps(r.Capabilities); err != nil {
			return Task{}, err
		}
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.RLock()
	to := r.TargetAgent
	var rerr *Error
	if to == "" {
		if t, ok := c.pickLocked(c.now(), normaliseCaps(r.Capabilities), nil, agent); ok {
			to = t
		} else {
			rerr = errorf(Conflict, "no available expert has the capabilities %v", normaliseCaps(r.Capabilities))
		}
	}
	if rerr == nil {
		if n := len(c.st.pendingTask[to]); n >= MaxPendingPerAgent {
			rerr = &Error{Kind: RateLimited, RetryAfter: 30 * time.Second,
				Message: fmt.Sprintf("agent %q already has %d pending tasks; retry later", to, n)}
		}
	}
	c.mu.RUnlock()
	if rerr != nil {
		return Task{}, rerr
	}
	if err := c.roomFor(agent, (&Task{From: agent, Description: r.Description, Data: r.Data}).charges()[0].n, "task"); err != nil {
		return Task{}, err
	}
	id := uuid.NewString()
	if _, err := c.append(ctx, agent, EventTaskDispatched, "task", id, taskDispatched{TaskID: id, To: to, Description: r.Description, Data: r.Data}); err != nil {
		return Task{}, err
	}
	return c.task(id), nil
}

func (c *Coordinator) task(id string) Task {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if t := c.st.Tasks[id]; t != nil {
		return *t
	}
	return Task{}
}

// Task returns task id to its dispatcher or assignee.
func (c *Coordinator) Task(agent, id string) (Task, error) {
	t := c.task(id)
	if t.ID == "" {
		return Task{}, errorf(NotFound, "no task %q (settled ones are kept for %s; the event log keeps them all)", id, Retention)
	}
	if agent != t.From && agent != t.To {
		return Task{}, errorf(Forbidden, "task %q belongs to %q and %q", id, t.From, t.To)
	}
	return t, nil
}

// PendingTasks lists tasks assigned to agent and not completed, oldest first.
func (c *Coordinator) PendingTasks(agent string) []Task {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []Task{}
	for id := range c.st.pendingTask[agent] {
		out = append(out, *c.st.Tasks[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sequence < out[j].Sequence })
	return out
}

// CompleteTask settles task id; only its assignee may.
func (c *Coordinator) CompleteTask(ctx context.Context, agent, id string, result json.RawMessage) (Task, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	t := c.task(id)
	switch {
	case t.ID == "":
		return Task{}, errorf(NotFound, "no task %q (settled ones are kept for %s; the event log keeps them all)", id, Retention)
	case t.To != agent:
		return Task{}, errorf(Forbidden, "task %q is assigned to %q; only that agent completes it", id, t.To)
	case t.Status != StatusPending:
		return Task{}, errorf(Conflict, "task %q is already %s", id, t.Status)
	}
	if err := c.roomFor(agent, int64(len(result)), "result"); err != nil {
		return Task{}, err
	}
	if _, err := c.append(ctx, agent, EventTaskCompleted, "task", id, taskCompleted{TaskID: id, Result: result}); err != nil {
		return Task{}, err
	}
	return c.task(id), nil
}

// StartCollaboration starts a collaboration of agent and participants.
func (c *Coordinator) StartCollaboration(ctx context.Context, agent string, participants []string, topic string) (Collaboration, error) {
	if strings.TrimSpace(topic) == "" {
		return Collaboration{}, errorf(Invalid, "topic is required")
	}
	if len(participants) == 0 {
		return Collaboration{}, errorf(Invalid, "participants must name at least one other agent")
	}
	if len(participants) > MaxParticipants {
		return Collaboration{}, errorf(Invalid, "at most %d participants, got %d", MaxParticipants, len(participants))
	}
	if slices.Contains(participants, "") {
		return Collaboration{}, errorf(Invalid, "participants may not contain an empty agent id")
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.roomFor(agent, (&Collaboration{Starter: agent, Topic: topic, Participants: participants}).charges()[0].n, "collaboration"); err != nil {
		return Collaboration{}, err
	}
	id := uuid.NewString()
	if _, err := c.append(ctx, agent, EventCollaborationStarted, "collaboration", id, collaborationStarted{CollaborationID: id, Participants: participants, Topic: topic}); err != nil {
		return Collaboration{}, err
	}
	return c.collab(id), nil
}

func (c *Coordinator) collab(id string) Collaboration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if x := c.st.Collaborations[id]; x != nil {
		v := *x
		v.Participants = slices.Clone(x.Participants)
		return v
	}
	return Collaboration{}
}

// Collaboration returns collaboration id to one of its participants.
func (c *Coordinator) Collaboration(agent, id string) (Collaboration, error) {
	x := c.collab(id)
	if x.ID == "" {
		return Collaboration{}, errorf(NotFound, "no collaboration %q (settled ones are kept for %s; the event log keeps them all)", id, Retention)
	}
	if !slices.Contains(x.Participants, agent) {
		return Collaboration{}, errorf(Forbidden, "agent %q is not a participant of collaboration %q", agent, id)
	}
	return x, nil
}

// EndCollaboration ends collaboration id; any participant may.
func (c *Coordinator) EndCollaboration(ctx context.Context, agent, id, summary string) (Collaboration, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	x, err := c.Collaboration(agent, id)
	if err != nil {
		return Collaboration{}, err
	}
	if x.Status != StatusActive {
		return Collaboration{}, errorf(Conflict, "collaboration %q has already ended", id)
	}
	if err := c.roomFor(agent, int64(len(summary)), "summary"); err != nil {
		return Collaboration{}, err
	}
	if _, err := c.append(ctx, agent, EventCollaborationEnded, "collaboration", id, collaborationEnded{CollaborationID: id, Summary: summary}); err != nil {
		return Collaboration{}, err
	}
	return c.collab(id), nil
}
