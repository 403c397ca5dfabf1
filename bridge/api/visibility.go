package api

import (
	"slices"
	"sync"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// audience is who may read one event: decided once per event (for the
// streams, once for all of them), checked per reader.
type audience struct {
	vis     Visibility
	parties []string // Participants only
}

// allows reports whether id may read the event.
func (a audience) allows(id auth.Identity) bool {
	switch {
	case id.Admin:
		return true
	case a.vis == Everyone:
		return true
	case a.vis == Participants:
		return id.AgentID != "" && slices.Contains(a.parties, id.AgentID)
	}
	return false
}

// audienceOf applies the visibility declared for e's type; a type no row
// declares is an agent's own (CustomEventVisibility). It may read the
// store (a follow-up event's creating event), so it must not run inside
// a store read (a Filter.Keep): see quickAudience.
func (s *Server) audienceOf(e *store.Event) audience {
	a, _ := s.audience(e, true)
	return a
}

// quickAudience is audienceOf without reading the store: resolved is
// false when a follow-up event's parties are not cached, and the
// audience is then its actor's alone (the caller resolves it later).
func (s *Server) quickAudience(e *store.Event) (a audience, resolved bool) {
	return s.audience(e, false)
}

func (s *Server) audience(e *store.Event, read bool) (audience, bool) {
	d, declared := s.typeInfo(e.Type)
	if !declared {
		return audience{vis: CustomEventVisibility}, true
	}
	if d.Visibility != Participants {
		return audience{vis: d.Visibility}, true
	}
	if d.Parties == nil {
		return audience{vis: Participants, parties: []string{e.AgentID}}, true
	}
	agents, origin := d.Parties(*e)
	if origin == "" || e.AggregateID == "" {
		if e.AggregateID != "" {
			s.origins.put(e.Type, e.AggregateID, agents) // its follow-ups will ask
		}
		return audience{vis: Participants, parties: agents}, true
	}
	more, ok := s.origins.parties(s, origin, e.AggregateID, read)
	for _, a := range more {
		if !slices.Contains(agents, a) {
			agents = append(agents, a)
		}
	}
	return audience{vis: Participants, parties: agents}, ok
}

// PublicEventType reports whether every agent may read events of type t:
// the rule of the FUSE view's events/, which has no agent identity.
func (s *Server) PublicEventType(t string) bool {
	s.mu.RLock()
	d, declared := s.types[t]
	s.mu.RUnlock()
	if !declared {
		return CustomEventVisibility == Everyone
	}
	return d.Visibility == Everyone
}

// originCacheSize bounds the cache of creating events' parties: two
// generations of this many entries.
const originCacheSize = 4096

// originCache remembers the parties of the events that created
// aggregates (a delegation, a task), which their follow-up events share.
// A miss reads the creating event from the store's aggregate index. It
// holds two generations: when the young one fills, the old one is
// dropped, so memory stays bounded and recent aggregates stay cached.
type originCache struct {
	mu      sync.Mutex
	young   map[string][]string
	old     map[string][]string
	lookups uint64 // store reads, for tests
}

// parties returns the parties of aggregate's creating event of type
// origin. Without read, a cache miss returns ok false.
func (c *originCache) parties(s *Server, origin, aggregate string, read bool) (p []string, ok bool) {
	key := origin + "\x00" + aggregate
	c.mu.Lock()
	if p, ok := c.young[key]; ok {
		c.mu.Unlock()
		return p, true
	}
	if p, ok := c.old[key]; ok {
		c.putLocked(key, p)
		c.mu.Unlock()
		return p, true
	}
	if !read {
		c.mu.Unlock()
		return nil, false
	}
	c.lookups++
	c.mu.Unlock()
	// The first event of the creating type with this aggregate id: only
	// the Bridge writes that type (it is reserved), and the projection
	// also keeps the first one.
	evs, err := s.store.Query(store.Filter{AggregateID: aggregate, Type: origin, Limit: 1})
	if err != nil {
		return nil, true // unreadable now: the event's actor alone
	}
	if len(evs) == 0 {
		return nil, true // no such aggregate: the event's actor alone
	}
	d, ok := s.typeInfo(origin)
	switch {
	case ok && d.Parties != nil:
		p, _ = d.Parties(evs[0]) // a creating event names its parties
	default:
		p = []string{evs[0].AgentID}
	}
	c.mu.Lock()
	c.putLocked(key, p)
	c.mu.Unlock()
	return p, true
}

func (c *originCache) put(origin, aggregate string, p []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(origin+"\x00"+aggregate, p)
}

func (c *originCache) putLocked(key string, p []string) {
	if c.young == nil {
		c.young = make(map[string][]string)
	}
	if len(c.young) >= originCacheSize {
		c.old, c.young = c.young, make(map[string][]string)
	}
	c.young[key] = p
}

func (s *Server) typeInfo(t string) (declaredType, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.types[t]
	return d, ok
}
