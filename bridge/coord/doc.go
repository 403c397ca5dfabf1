// Package coord is the Bridge's coordination between agents: experts
// register their capabilities and heartbeat, builders delegate tool calls
// to them (by capability or by name), dispatch tasks, start and end
// collaborations, and ask each other questions (elicitation). /validate
// escalates commands no rule decides to an expert through Coordinator's
// validate.Escalator implementation and waits a bounded time for its
// answer.
//
// Every change is an event in the store, and the state is a projection of
// those events (State, Apply), so a restart — or a snapshot plus the
// log's tail (MarshalState, RestoreState) — gives back registrations,
// pending delegations, tasks and elicitations. The acting agent of every
// event is the event's AgentID, which the HTTP layer takes from the
// session token, never from a body field. Time comes from an injected
// clock, so availability, expiry and rate limits are tested without
// sleeping.
package coord
