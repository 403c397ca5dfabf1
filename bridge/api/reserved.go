package api

import (
	"net/http"
)

// BridgeOnly is the route given for reserved event types that no route
// writes on a client's behalf: the Bridge appends them on its own (a
// session's sliding expiry, a delegation's timeout). Part.Writes declares
// them.
const BridgeOnly = ""

// ReservedEventTypes returns every type the Bridge writes itself (every
// declared type) and the route that writes it (BridgeOnly when none
// does). POST /event/store refuses each of them.
func (s *Server) ReservedEventTypes() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]string, len(s.types))
	for t, d := range s.types {
		out[t] = d.route
	}
	return out
}

// checkUnreserved is POST /event/store's refusal of a declared type: a
// projection applies an event as the Bridge wrote it, so a type the
// Bridge writes must never come from a client. The 403 names the route
// that writes it.
func (s *Server) checkUnreserved(eventType string) error {
	s.mu.RLock()
	d, reserved := s.types[eventType]
	s.mu.RUnlock()
	if !reserved {
		return nil
	}
	if d.route == BridgeOnly {
		return Errorf(http.StatusForbidden, "event type %q is written only by the Bridge itself and cannot be stored through /event/store; use a type of your own", eventType)
	}
	return Errorf(http.StatusForbidden, "event type %q is written only by the Bridge itself and cannot be stored through /event/store; use %s to have it written", eventType, d.route)
}
