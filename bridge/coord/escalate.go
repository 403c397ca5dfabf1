package coord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/validate"
)

// ErrStopping ends escalation waits when the Bridge shuts down.
var ErrStopping = errors.New("the bridge is shutting down")

// CapabilityCommandValidation marks an expert that judges any escalated
// command, whatever capability the rules ask for.
const CapabilityCommandValidation = "command_validation"

// Escalate implements validate.Escalator. The expert is picked among the
// available experts holding capability (validate.NeededCapability: today
// always "security") or CapabilityCommandValidation, never the requesting
// agent itself. It receives a delegation of kind "validation" in its
// ordinary queue and completes it with {decision, reasoning, confidence?,
// risk_level?}. Escalate waits until then or until ctx ends (the
// Validator's bounded escalation timeout); on timeout the delegation is
// recorded as expired, so a late answer is refused, and the error makes
// the Validator apply the safe default. ok is false when no expert is
// available at all.
func (c *Coordinator) Escalate(ctx context.Context, req validate.Request, capability string) (validate.Decision, bool, error) {
	if req.AgentID == "" {
		return validate.Decision{}, false, nil
	}
	c.writeMu.Lock()
	now := c.now()
	c.mu.Lock()
	target, ok := c.pickLocked(now, nil, []string{capability, CapabilityCommandValidation}, req.AgentID)
	if ok && c.pendingForLocked(target) >= MaxPendingPerAgent {
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		c.writeMu.Unlock()
		return validate.Decision{}, false, nil
	}
	// The waiter is registered before the event exists, so no completion
	// can be missed; it is keyed by the id the event will carry.
	d, err := c.createValidation(ctx, req, target, capability)
	c.writeMu.Unlock()
	if err != nil {
		return validate.Decision{}, false, err
	}
	var stop error
	select {
	case <-d.settled:
	case <-ctx.Done():
		stop = ctx.Err()
	case <-c.stopping:
		stop = ErrStopping
	}
	if stop != nil {
		c.expire(d.id, req.AgentID, stop)
		// The answer may have raced the deadline.
		if got, _ := c.delegation(d.id); got.Status != StatusCompleted {
			return validate.Decision{}, true, stop
		}
	}
	got, _ := c.delegation(d.id)
	if got.Status != StatusCompleted {
		return validate.Decision{}, true, fmt.Errorf("delegation %s ended %s", d.id, got.Status)
	}
	ed, err := parseDecision(got.Result)
	if err != nil {
		return validate.Decision{}, true, err
	}
	out := validate.Decision{Decision: ed.Decision, Reasoning: ed.Reasoning, Confidence: 0.8, RiskLevel: validate.RiskMedium,
		ExpertRequired: true, Rule: validate.RuleExpert, Expert: target}
	if ed.Confidence != nil {
		out.Confidence = *ed.Confidence
	}
	if ed.RiskLevel != "" {
		out.RiskLevel = ed.RiskLevel
	}
	return out, true, nil
}

type pendingValidation struct {
	id      string
	settled chan struct{}
}

func (c *Coordinator) createValidation(ctx context.Context, req validate.Request, target, capability string) (pendingValidation, error) {
	p := pendingValidation{settled: make(chan struct{})}
	d, err := c.createDelegationWith(ctx, req.AgentID, target, KindValidation, DelegateRequest{
		ToolName: req.ToolName, ToolInput: validInput(req.ToolInput), Capabilities: []string{capability},
	}, func(id string) {
		p.id = id
		c.mu.Lock()
		c.waiters[id] = p.settled
		c.mu.Unlock()
	})
	if err != nil {
		c.mu.Lock()
		delete(c.waiters, p.id)
		c.mu.Unlock()
		return p, err
	}
	p.id = d.ID
	return p, nil
}

// validInput keeps tool_input only when it is JSON (it always is from the
// HTTP layer; the check keeps the event encodable).
func validInput(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !json.Valid(raw) {
		return nil
	}
	return raw
}

// expire records that the requester stopped waiting for delegation id.
// It uses its own short deadline: the caller's context is already done.
func (c *Coordinator) expire(id, requester string, cause error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if d, ok := c.delegation(id); !ok || d.Status != StatusPending {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.append(ctx, requester, EventDelegationExpired, "delegation", id, delegationExpired{DelegationID: id, Reason: cause.Error()})
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}
