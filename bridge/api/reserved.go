package api

import (
	"net/http"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
)

// BridgeOnly is the route given for reserved event types that no route
// writes on a client's behalf: the Bridge appends them on its own (a
// session's sliding expiry, a delegation's timeout).
const BridgeOnly = ""

// ReserveEventTypes makes POST /event/store refuse these types (403):
// a projection applies an event as the Bridge wrote it, so an event type
// the Bridge writes itself must never come from a client. Prefer
// ReserveEventTypesFor, whose refusal names the route to use.
func (s *Server) ReserveEventTypes(types ...string) {
	s.ReserveEventTypesFor(BridgeOnly, types...)
}

// ReserveEventTypesFor reserves types as ReserveEventTypes does and records
// route ("POST /validate") as the way a client makes the Bridge write
// them, so the 403 tells the client what to do instead. A type reserved
// twice keeps the first route given that is not BridgeOnly.
func (s *Server) ReserveEventTypesFor(route string, types ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range types {
		if old, ok := s.reserved[t]; !ok || old == BridgeOnly {
			s.reserved[t] = route
		}
	}
}

// ReservedEventTypes returns every reserved type and the route that
// writes it (BridgeOnly when none does).
func (s *Server) ReservedEventTypes() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]string, len(s.reserved))
	for t, r := range s.reserved {
		out[t] = r
	}
	return out
}

// checkUnreserved is POST /event/store's refusal of a reserved type: a 403
// naming the route that writes it.
func (s *Server) checkUnreserved(eventType string) error {
	s.mu.RLock()
	route, reserved := s.reserved[eventType]
	s.mu.RUnlock()
	if !reserved {
		return nil
	}
	if route == BridgeOnly {
		return Errorf(http.StatusForbidden, "event type %q is written only by the Bridge itself and cannot be stored through /event/store; use a type of your own", eventType)
	}
	return Errorf(http.StatusForbidden, "event type %q is written only by the Bridge itself and cannot be stored through /event/store; use %s to have it written", eventType, route)
}

// reserveCore reserves the types of the core routes and of the session
// projection, whose events carry authority (an admin session, a recorded
// decision) that only the Bridge may grant.
func (s *Server) reserveCore() {
	s.ReserveEventTypesFor("POST /session/create", auth.EventSessionCreated)
	s.ReserveEventTypesFor(BridgeOnly, auth.EventSessionRefreshed) // any authenticated request slides its session
	s.ReserveEventTypesFor("POST /validate", EventValidationDecision)
}
