package api

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Access says who may call a route. The zero value is no access at all:
// a row that forgets to say is refused by Add, never served as public.
type Access int

const (
	accessUnset Access = iota
	// Public routes need no token (health, status, metrics, sessions).
	Public
	// Agent routes need a valid session token of any agent.
	Agent
	// Admin routes need a session created with an admin key.
	Admin
)

func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case Agent:
		return "agent"
	case Admin:
		return "admin"
	}
	return "unset"
}

// Visibility says who may read the events of a type, on every read path:
// GET /event/query, GET /event/stream, the FUSE view's events/ (which
// has no agent identity, so it shows Everyone types only) and
// GET /admin/backup (Admin routes only). The zero value is not a
// visibility: a declared type must say, and Add refuses one that does not.
type Visibility int

const (
	visibilityUnset Visibility = iota
	// Everyone: any agent with a session.
	Everyone
	// Participants: the agents the event concerns (EventType.Parties;
	// its actor when Parties is nil) and admins.
	Participants
	// Admins: admin sessions only.
	Admins
)

func (v Visibility) String() string {
	switch v {
	case Everyone:
		return "everyone"
	case Participants:
		return "participants"
	case Admins:
		return "admins"
	}
	return "unset"
}

// PartiesFunc names the agents an event concerns. A follow-up event (a
// completion, an answer) that does not carry them names origin instead:
// the event type that created its aggregate (same AggregateID), whose
// parties are its parties too. agents always includes the actor.
type PartiesFunc func(e store.Event) (agents []string, origin string)

// EventType declares one event type the Bridge writes and who may read it.
type EventType struct {
	Name       string
	Visibility Visibility
	// Parties names the participants of a Participants type; nil means
	// the event's actor alone.
	Parties PartiesFunc
}

// CustomEventVisibility is the visibility of every event type no row
// declares: the agents' own types, stored through POST /event/store.
// The contract makes the event log the agents' shared record (query by
// any agent_id, a stream of every event), so they are readable by every
// agent; a type the Bridge writes itself is always declared, and a
// declared type without a visibility is refused at start-up.
const CustomEventVisibility = Everyone

// Route is one row of the route table: everything about a route,
// declared once. Add derives the rest from it: the auth rule, the check
// of its query parameters, the bounds on its body, the stream caps, the
// metrics label, and the reservation and visibility of the event types
// it writes.
type Route struct {
	Method string // GET, POST, PUT or DELETE (GET also answers HEAD)
	// Path is the Go 1.22 pattern path: "/task/{id}", "/shadow/{path...}".
	Path    string
	Access  Access
	Handler http.HandlerFunc
	// Params are the query parameters the route accepts, each at most
	// once. Any other, or a repeated one, is 400 before the handler runs.
	Params []string
	// Request is the type of the JSON body (nil: none, or not JSON: see
	// RawBody); Response the type of the JSON answer (nil: see Produces).
	// They are the server's own types, for clients built from the table.
	Request, Response reflect.Type
	// RawBody says the body is not JSON (a shadow file's bytes).
	RawBody bool
	// Produces is the content type of an answer that is not JSON.
	Produces string
	// MaxBody bounds the body in bytes; 0 means MaxBodyBytes for
	// authenticated routes and MaxPublicBodyBytes for public ones.
	MaxBody int64
	// MaxBodyFrom names what sets MaxBody (its environment variable),
	// for the 413 answer; "" for the built-in bounds.
	MaxBodyFrom string
	// Writes are the event types the route appends, with their
	// visibility. POST /event/store is refused each of them (403 naming
	// this route), so only the Bridge writes them.
	Writes []EventType
	// Stream marks a long-lived answer counted against the stream caps
	// (429 with Retry-After beyond them).
	Stream bool
	// Probe marks health and readiness routes: also answered on the probe
	// path, which serves connections over the connection limits.
	Probe bool
	// CleanPath refuses (400) a URL path under the route's prefix that
	// the router would clean and redirect ("..", "//", "./").
	CleanPath bool
	// Doc is one line on what the route does.
	Doc string
}

// Pattern is the row's router pattern, "GET /task/{id}".
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// bodyLimit is the row's MaxBody or its default.
func (r Route) bodyLimit() int64 {
	switch {
	case r.MaxBody > 0:
		return r.MaxBody
	case r.Access == Public:
		return MaxPublicBodyBytes
	}
	return MaxBodyBytes
}

// Part is one part of the API: its routes, and the event types it writes
// on its own rather than on a request's behalf (a session's sliding
// expiry, a delegation's timeout).
type Part struct {
	Name   string
	Routes []Route
	Writes []EventType
}

// MaxPublicBodyBytes bounds the body of a public route (session creation
// and validation): what an unauthenticated client may make the Bridge
// hold. The largest legitimate body, a session token, is under 1 KiB.
const MaxPublicBodyBytes = 16 << 10

// TypeOf is reflect.TypeFor, for rows: Request: TypeOf[EventStoreRequest]().
func TypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// declaredType is an event type as the server applies it.
type declaredType struct {
	EventType
	route string // the route that writes it, BridgeOnly when none
}

// Add serves a part's routes and declares the event types it writes.
// Every rule of a row is applied here, so no route escapes one. A row
// that is incomplete (no method, path, access or handler; an event type
// without a visibility; a type declared twice with different
// visibilities; a pattern already served) is a programming error: Add
// panics, at start-up, before anything is served.
func (s *Server) Add(p Part) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range p.Writes {
		s.declareLocked(p.Name, t, BridgeOnly)
	}
	for _, rt := range p.Routes {
		if err := rt.check(); err != nil {
			panic(fmt.Sprintf("api: part %s: %v", p.Name, err))
		}
		pattern := rt.Pattern()
		if _, dup := s.patterns.Load(pattern); dup {
			panic(fmt.Sprintf("api: part %s: route %s is declared twice", p.Name, pattern))
		}
		for _, t := range rt.Writes {
			s.declareLocked(p.Name, t, pattern)
		}
		s.mux.Handle(pattern, s.wrap(rt))
		s.patterns.Store(pattern, true)
		if rt.Probe {
			s.probes[pattern] = true
		}
		if rt.CleanPath {
			prefix, _, _ := strings.Cut(rt.Path, "{")
			if !slices.Contains(s.confined, prefix) {
				s.confined = append(s.confined, prefix)
			}
		}
		s.table = append(s.table, rt)
	}
}

func (r Route) check() error {
	switch {
	case r.Method == "" || r.Path == "" || !strings.HasPrefix(r.Path, "/"):
		return fmt.Errorf("route %q: method and an absolute path are required", r.Pattern())
	case r.Access < Public || r.Access > Admin:
		return fmt.Errorf("route %s: access is not set", r.Pattern())
	case r.Handler == nil:
		return fmt.Errorf("route %s: no handler", r.Pattern())
	case r.Stream && r.Access == Public:
		return fmt.Errorf("route %s: a stream needs an agent to count it against", r.Pattern())
	}
	return nil
}

func (s *Server) declareLocked(part string, t EventType, route string) {
	if t.Name == "" || t.Visibility < Everyone || t.Visibility > Admins {
		panic(fmt.Sprintf("api: part %s: event type %q has no visibility", part, t.Name))
	}
	old, ok := s.types[t.Name]
	if ok && old.Visibility != t.Visibility {
		panic(fmt.Sprintf("api: part %s: event type %s declared %s and %s", part, t.Name, old.Visibility, t.Visibility))
	}
	if ok && old.route != BridgeOnly {
		route = old.route // the first route that writes it names it
	}
	if ok && t.Parties == nil {
		t.Parties = old.Parties
	}
	s.types[t.Name] = declaredType{EventType: t, route: route}
}

// wrap applies a row's rules around its handler, in the order a request
// meets them: identity, query parameters, the stream caps, the body
// bounds, then the handler.
func (s *Server) wrap(rt Route) http.Handler {
	var h http.Handler = rt.Handler
	if !rt.Stream { // a stream bounds each of its writes itself
		h = progressDeadline(s.limits.WriteTimeout, h)
	}
	h = s.bodies.limit(rt.bodyLimit(), rt.MaxBodyFrom, s.limits.BodyStall, s.limits.ReadTimeout, h)
	if rt.Method != http.MethodGet && rt.Method != http.MethodHead && rt.Access != Public {
		h = s.diskGuard(h) // every authenticated write appends to the log
	}
	if rt.Stream {
		h = s.hub.admit(h)
	}
	h = checkQuery(rt.Params, h)
	switch rt.Access {
	case Agent:
		h = s.requireAuth(h)
	case Admin:
		inner := h
		h = s.requireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id, _ := auth.FromContext(r.Context()); !id.Admin {
				WriteError(w, http.StatusForbidden, "this route needs an admin session (a key minted with --role admin)")
				return
			}
			inner.ServeHTTP(w, r)
		}))
	}
	return h
}

// checkQuery refuses a query with a parameter the row does not accept or
// one given twice (checkParams).
func checkQuery(accepted []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			q, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				WriteError(w, http.StatusBadRequest, "malformed query string: "+err.Error())
				return
			}
			if err := checkParams(q, accepted...); err != nil {
				WriteErr(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Routes returns every row served, in the order they were added.
func (s *Server) Routes() []Route {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.table)
}

// EventTypes returns every declared event type, sorted by name.
func (s *Server) EventTypes() []EventType {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]EventType, 0, len(s.types))
	for _, t := range s.types {
		out = append(out, t.EventType)
	}
	slices.SortFunc(out, func(a, b EventType) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Declared is the Bridge's route table without a running server: the
// parts New, AddCoordination and EnableShadow serve, in that order, for
// tools that read the rows (a client built from them, documentation) and
// never call their handlers.
func Declared() []Part {
	s := &Server{}
	return []Part{s.corePart(), CoordinationPart(nil), ShadowPart(s, nil)}
}

// progressDeadline bounds how long one write of an answer may wait for the
// client to read: every write must progress within d, so a client that
// asks for a large answer and never reads it frees its handler (and the
// bytes it holds) after d, while a slow but steady reader is served.
func progressDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw := &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		// With no server WriteTimeout the server never resets a write
		// deadline: this one must not outlive the request.
		defer pw.rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(pw, r)
	})
}

type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.rc.SetWriteDeadline(time.Now().Add(p.d))
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
