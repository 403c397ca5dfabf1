package coord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ElicitRequest is a question to another agent. Schema, when given, is a
// JSON Schema the accepted answer's data must satisfy.
type ElicitRequest struct {
	To             string
	Message        string
	Schema         json.RawMessage
	TimeoutSeconds *float64
}

// ElicitationView is an elicitation as its asker and addressee see it:
// Status reads "expired" once an unanswered question passes ExpiresAt.
type ElicitationView = Elicitation

// CreateElicitation records agent's question. At most
// MaxCreatesPerWindow per agent per RateWindow.
func (c *Coordinator) CreateElicitation(ctx context.Context, agent string, r ElicitRequest) (ElicitationView, error) {
	if strings.TrimSpace(r.To) == "" {
		return Elicitation{}, errorf(Invalid, "to_agent is required")
	}
	if r.To == agent {
		return Elicitation{}, errorf(Invalid, "an agent cannot ask itself")
	}
	if strings.TrimSpace(r.Message) == "" {
		return Elicitation{}, errorf(Invalid, "message is required")
	}
	timeout := DefaultElicitationTimeout
	if r.TimeoutSeconds != nil {
		s := *r.TimeoutSeconds
		if !(s >= 1 && s <= MaxElicitationTimeout.Seconds()) {
			return Elicitation{}, errorf(Invalid, "timeout_seconds must be between 1 and %d", int(MaxElicitationTimeout.Seconds()))
		}
		timeout = time.Duration(s * float64(time.Second))
	}
	if len(r.Schema) > 0 && string(r.Schema) != "null" {
		if _, err := compileSchema(r.Schema); err != nil {
			return Elicitation{}, errorf(Invalid, "schema is not a valid JSON Schema: %v", err)
		}
	} else {
		r.Schema = nil
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	now := c.now()
	c.mu.RLock()
	retry, limited := limit(c.st.Creates[agent], now, MaxCreatesPerWindow)
	pending := 0
	for id := range c.st.openElicit[r.To] {
		if now.Before(c.st.Elicitations[id].ExpiresAt) {
			pending++
		}
	}
	c.mu.RUnlock()
	if limited {
		return Elicitation{}, &Error{Kind: RateLimited, RetryAfter: retry,
			Message: fmt.Sprintf("agent %q may create at most %d elicitations per minute", agent, MaxCreatesPerWindow)}
	}
	if pending >= MaxPendingPerAgent {
		return Elicitation{}, &Error{Kind: RateLimited, RetryAfter: 30 * time.Second,
			Message: fmt.Sprintf("agent %q already has %d open questions; retry later", r.To, pending)}
	}
	if err := c.roomFor(agent, (&Elicitation{From: agent, Message: r.Message, Schema: r.Schema}).charges()[0].n, "elicitation"); err != nil {
		return Elicitation{}, err
	}
	id := uuid.NewString()
	_, err := c.append(ctx, agent, EventElicitationCreated, "elicitation", id, elicitationCreated{
		ElicitationID: id, To: r.To, Message: r.Message, Schema: r.Schema, ExpiresAt: now.Add(timeout).UTC(),
	})
	if err != nil {
		return Elicitation{}, err
	}
	v, _ := c.elicitation(id, c.now())
	return v, nil
}

// limit reports whether times (already in the window) reach max at now,
// and when the oldest leaves the window.
func limit(times []time.Time, now time.Time, max int) (time.Duration, bool) {
	in := window(times, now)
	if len(in) < max {
		return 0, false
	}
	return in[len(in)-max].Add(RateWindow).Sub(now), true
}

func (c *Coordinator) elicitation(id string, now time.Time) (Elicitation, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.st.Elicitations[id]
	if e == nil {
		return Elicitation{}, false
	}
	return viewElicitation(e, now), true
}

func viewElicitation(e *Elicitation, now time.Time) Elicitation {
	v := *e
	if v.Status == StatusPending && !now.Before(v.ExpiresAt) {
		v.Status = StatusExpired
	}
	return v
}

// PendingElicitations lists the open, unexpired questions addressed to
// agent, oldest first.
func (c *Coordinator) PendingElicitations(agent string) []Elicitation {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []Elicitation{}
	for id := range c.st.openElicit[agent] {
		if e := c.st.Elicitations[id]; now.Before(e.ExpiresAt) {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sequence < out[j].Sequence })
	return out
}

// ElicitationStatus returns elicitation id to its asker or addressee.
func (c *Coordinator) ElicitationStatus(agent, id string) (Elicitation, error) {
	e, ok := c.elicitation(id, c.now())
	if !ok {
		return Elicitation{}, errorf(NotFound, "no elicitation %q (settled ones are kept for %s; the event log keeps them all)", id, Retention)
	}
	if agent != e.From && agent != e.To {
		return Elicitation{}, errorf(Forbidden, "elicitation %q is between %q and %q", id, e.From, e.To)
	}
	return e, nil
}

// Respond answers (accept, decline: the addressee) or cancels (cancel: the
// asker) elicitation id. At most MaxResponsesPerWindow per agent per
// RateWindow.
func (c *Coordinator) Respond(ctx context.Context, agent, id, responseType string, data json.RawMessage) (Elicitation, error) {
	if id == "" {
		return Elicitation{}, errorf(Invalid, "elicitation_id is required")
	}
	switch responseType {
	case ResponseAccept, ResponseDecline, ResponseCancel:
	default:
		return Elicitation{}, errorf(Invalid, "response_type must be accept, decline or cancel, got %q", responseType)
	}
	if string(data) == "null" {
		data = nil
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	now := c.now()
	e, ok := c.elicitation(id, now)
	switch {
	case !ok:
		return Elicitation{}, errorf(NotFound, "no elicitation %q (settled ones are kept for %s; the event log keeps them all)", id, Retention)
	case responseType == ResponseCancel && agent != e.From:
		return Elicitation{}, errorf(Forbidden, "only the asker %q may cancel elicitation %q", e.From, id)
	case responseType != ResponseCancel && agent != e.To:
		return Elicitation{}, errorf(Forbidden, "only the addressee %q may answer elicitation %q", e.To, id)
	case e.Status == StatusExpired:
		return Elicitation{}, errorf(Gone, "elicitation %q expired at %s", id, e.ExpiresAt.Format(time.RFC3339))
	case e.Status != StatusPending:
		return Elicitation{}, errorf(Conflict, "elicitation %q is already %s", id, e.Status)
	}
	if responseType == ResponseAccept {
		if len(data) == 0 {
			return Elicitation{}, errorf(Invalid, "accept needs data: the answer")
		}
		if len(e.Schema) > 0 {
			sch, err := compileSchema(e.Schema)
			if err != nil {
				// Create checks the schema, so only a log written before
				// that check can hold one that does not compile.
				return Elicitation{}, errorf(Conflict, "elicitation %q has a schema that does not compile (%v); the asker must cancel it", id, err)
			}
			if err := checkData(sch, data); err != nil {
				return Elicitation{}, errorf(Invalid, "data does not satisfy the elicitation's schema: %v", err)
			}
		}
	}
	c.mu.RLock()
	retry, limited := limit(c.st.Responses[agent], now, MaxResponsesPerWindow)
	c.mu.RUnlock()
	if limited {
		return Elicitation{}, &Error{Kind: RateLimited, RetryAfter: retry,
			Message: fmt.Sprintf("agent %q may respond at most %d times per minute", agent, MaxResponsesPerWindow)}
	}
	if err := c.roomFor(agent, int64(len(data)), "answer"); err != nil {
		return Elicitation{}, err
	}
	typ := EventElicitationResponded
	if responseType == ResponseCancel {
		typ = EventElicitationCancelled
	}
	ev, err := c.append(ctx, agent, typ, "elicitation", id, elicitationResponded{ElicitationID: id, ResponseType: responseType, Data: data})
	if err != nil {
		return Elicitation{}, err
	}
	e, _ = c.elicitation(id, c.now())
	if e.Status == StatusPending || e.Status == StatusExpired {
		// The checks above ran before expiry, but the log stamped the
		// answer at or after it, so Apply (which judges by the event's
		// time, live and on replay alike) did not take it.
		return Elicitation{}, errorf(Gone, "elicitation %q expired at %s, before the answer was recorded at %s (the event is logged but not applied)",
			id, e.ExpiresAt.Format(time.RFC3339Nano), ev.Timestamp.Format(time.RFC3339Nano))
	}
	return e, nil
}

// compileSchema compiles a JSON Schema with every external reference
// refused: a question's schema may not make the Bridge read files or URLs.
// A schema is a JSON object or a boolean; the compiler is only handed
// those, as it does not survive being given any other JSON value.
func compileSchema(raw json.RawMessage) (sch *jsonschema.Schema, err error) {
	defer func() {
		// Client input must never crash a handler: a schema the compiler
		// chokes on is one it could not compile.
		if p := recover(); p != nil {
			sch, err = nil, fmt.Errorf("the schema could not be compiled: %v", p)
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, fmt.Errorf("a JSON Schema is an object (such as {\"type\":\"string\"}) or a boolean, got %s", jsonKind(doc))
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	const loc = "urn:lighthouse:elicitation"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

func checkData(sch *jsonschema.Schema, data json.RawMessage) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// jsonKind names the JSON kind of a value decoded by jsonschema.UnmarshalJSON.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case bool:
		return "a boolean"
	}
	return "a number"
}
