package coord

import (
	"fmt"
	"time"
)

// Limits bound the bytes of coordination state the Bridge keeps in
// memory (and in every snapshot): the payloads of open work and of work
// settled within Retention, each charged to the agent that wrote it (a
// task's data to its dispatcher, its result to its assignee; likewise
// delegations, collaborations and elicitations). Beyond MaxAgentBytes
// for the writer a request is 429, beyond MaxBytes in all 507: nothing
// is stored, and the charges return as work settles and leaves the state.
type Limits struct {
	MaxBytes      int64
	MaxAgentBytes int64
}

// Default limits: 64 MiB in all, 16 MiB per agent, sized to the
// deploy's 1 GiB with the other budgets (README, Operations).
const (
	DefaultMaxBytes      = 64 << 20
	DefaultMaxAgentBytes = 16 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxAgentBytes <= 0 || l.MaxAgentBytes > l.MaxBytes {
		l.MaxAgentBytes = min(DefaultMaxAgentBytes, l.MaxBytes)
	}
	return l
}

// itemOverhead is what one item costs besides its payloads: its struct,
// ids, times and index entries.
const itemOverhead = 512

// charge is bytes of the state held against an agent.
type charge struct {
	agent string
	n     int64
}

func caps(cs []string) int64 {
	n := int64(0)
	for _, c := range cs {
		n += int64(len(c)) + 16
	}
	return n
}

// Each item's charges, computed from the item alone, so that applying,
// forgetting and rebuilding (reindex) agree.
func (d *Delegation) charges() []charge {
	cs := []charge{{d.Requester, itemOverhead + int64(len(d.ToolName)+len(d.ToolInput)) + caps(d.Capabilities)}}
	if len(d.Result) > 0 {
		cs = append(cs, charge{d.Target, int64(len(d.Result))})
	}
	return cs
}

func (t *Task) charges() []charge {
	cs := []charge{{t.From, itemOverhead + int64(len(t.Description)+len(t.Data))}}
	if len(t.Result) > 0 {
		cs = append(cs, charge{t.To, int64(len(t.Result))})
	}
	return cs
}

func (c *Collaboration) charges() []charge {
	cs := []charge{{c.Starter, itemOverhead + int64(len(c.Topic)) + caps(c.Participants)}}
	if c.Summary != "" {
		cs = append(cs, charge{c.EndedBy, int64(len(c.Summary))})
	}
	return cs
}

func (e *Elicitation) charges() []charge {
	cs := []charge{{e.From, itemOverhead + int64(len(e.Message)+len(e.Schema))}}
	if len(e.Data) > 0 {
		who := e.To
		if e.Status == StatusCancelled {
			who = e.From
		}
		cs = append(cs, charge{who, int64(len(e.Data))})
	}
	return cs
}

// hold adds (sign 1) or returns (sign -1) charges.
func (st *State) hold(sign int64, cs []charge) {
	for _, c := range cs {
		st.heldTotal += sign * c.n
		if st.held[c.agent] += sign * c.n; st.held[c.agent] <= 0 {
			delete(st.held, c.agent)
		}
	}
}

// recount rebuilds the charges from the items (after a restore).
func (st *State) recount() {
	st.held, st.heldTotal = map[string]int64{}, 0
	for _, d := range st.Delegations {
		st.hold(1, d.charges())
	}
	for _, t := range st.Tasks {
		st.hold(1, t.charges())
	}
	for _, c := range st.Collaborations {
		st.hold(1, c.charges())
	}
	for _, e := range st.Elicitations {
		st.hold(1, e.charges())
	}
}

// RetryAfterFull is the Retry-After of a refusal for an agent's bytes.
const RetryAfterFull = time.Minute

// roomFor reports whether agent may add n bytes of state (a refusal
// naming the bound otherwise). Call it with writeMu held, before the
// append, so concurrent requests cannot both pass.
func (c *Coordinator) roomFor(agent string, n int64, what string) error {
	c.mu.RLock()
	held, total := c.st.held[agent], c.st.heldTotal
	c.mu.RUnlock()
	switch {
	case held+n > c.limits.MaxAgentBytes:
		return &Error{Kind: RateLimited, RetryAfter: RetryAfterFull, Message: fmt.Sprintf(
			"agent %q holds %d bytes of open and recently settled coordination work (tasks, delegations, collaborations, elicitations and their results); this %s adds %d and one agent may hold %d (%s). Nothing was stored: retry when some of that work has settled and been forgotten (%s after settling)",
			agent, held, what, n, c.limits.MaxAgentBytes, EnvMaxAgentBytes, Retention)}
	case total+n > c.limits.MaxBytes:
		return &Error{Kind: Full, Message: fmt.Sprintf(
			"the bridge holds %d bytes of coordination work in all; this %s adds %d and the limit is %d (%s). Nothing was stored: retry when work has settled, or an operator raises the limit",
			total, what, n, c.limits.MaxBytes, EnvMaxBytes)}
	}
	return nil
}

// The environment variables that set Limits (read by bridge/config; named
// here for the refusals).
const (
	EnvMaxBytes      = "LIGHTHOUSE_COORD_MAX_BYTES"
	EnvMaxAgentBytes = "LIGHTHOUSE_COORD_MAX_AGENT_BYTES"
)

// Bytes is about the size of the item's JSON: its charges (payloads and
// overhead), for an answer that lists it.
func (d Delegation) Bytes() int64 { return sum(d.charges()) }

// Bytes is about the size of the task's JSON.
func (t Task) Bytes() int64 { return sum(t.charges()) }

// Bytes is about the size of the question's JSON.
func (e Elicitation) Bytes() int64 { return sum(e.charges()) }

func sum(cs []charge) int64 {
	n := int64(0)
	for _, c := range cs {
		n += c.n
	}
	return n
}
