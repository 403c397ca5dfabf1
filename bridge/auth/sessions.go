package auth

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Event types the session projection reads. They are ordinary events in the
// log, so sessions survive a restart and appear in the audit trail.
const (
	EventSessionCreated   = "session_created"
	EventSessionRefreshed = "session_refreshed"
)

// Session limits from the contract.
const (
	SessionTTL          = time.Hour // idle time after which a session expires
	MaxSessionsPerAgent = 3
)

// SessionRecord is one session's state. It is plain data so a snapshot can
// serialise the whole projection (Sessions.State, Sessions.Restore).
type SessionRecord struct {
	ID       string    `json:"session_id"`
	AgentID  string    `json:"agent_id"`
	Admin    bool      `json:"admin,omitempty"`
	Issued   int64     `json:"issued_at"` // unix seconds, the token's time field
	Created  uint64    `json:"created_sequence"`
	LastSeen time.Time `json:"last_seen"` // as last recorded in the log
}

// sessionCreated is the data of a session_created event.
type sessionCreated struct {
	SessionID string `json:"session_id"`
	AgentID   string `json:"agent_id"`
	Admin     bool   `json:"admin,omitempty"`
	IssuedAt  int64  `json:"issued_at"`
}

// sessionRefreshed is the data of a session_refreshed event.
type sessionRefreshed struct {
	SessionID string    `json:"session_id"`
	At        time.Time `json:"at"`
}

// Sessions is the projection of live sessions. Apply is deterministic
// (it uses only the events); sliding-expiry touches between persisted
// refreshes are kept in memory on the side.
type Sessions struct {
	mu      sync.RWMutex
	byID    map[string]*SessionRecord
	touched map[string]time.Time // in-memory last use, newer than LastSeen
}

// NewSessions returns an empty projection.
func NewSessions() *Sessions {
	return &Sessions{byID: map[string]*SessionRecord{}, touched: map[string]time.Time{}}
}

// Apply implements store.Projection.
func (s *Sessions) Apply(e store.Event) error {
	switch e.Type {
	case EventSessionCreated:
		var d sessionCreated
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("session_created: %w", err)
		}
		if d.SessionID == "" || d.AgentID == "" || d.AgentID != e.AgentID {
			// The Manager writes a session under the agent it is for;
			// anything else did not come from it and grants nothing.
			return fmt.Errorf("session_created for agent %q appended by agent %q: ignored", d.AgentID, e.AgentID)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.byID[d.SessionID] = &SessionRecord{
			ID: d.SessionID, AgentID: d.AgentID, Admin: d.Admin, Issued: d.IssuedAt,
			Created: e.Sequence, LastSeen: e.Timestamp,
		}
		// A fourth session evicts the agent's oldest.
		var mine []*SessionRecord
		for _, r := range s.byID {
			if r.AgentID == d.AgentID {
				mine = append(mine, r)
			}
		}
		sort.Slice(mine, func(i, j int) bool { return mine[i].Created < mine[j].Created })
		for len(mine) > MaxSessionsPerAgent {
			delete(s.byID, mine[0].ID)
			delete(s.touched, mine[0].ID)
			mine = mine[1:]
		}
	case EventSessionRefreshed:
		var d sessionRefreshed
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("session_refreshed: %w", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		r, ok := s.byID[d.SessionID]
		if ok && r.AgentID != e.AgentID {
			// Only the session's own agent's requests slide its expiry.
			return fmt.Errorf("session_refreshed of agent %q's session appended by agent %q: ignored", r.AgentID, e.AgentID)
		}
		if ok && d.At.After(r.LastSeen) {
			r.LastSeen = d.At
		}
	}
	return nil
}

// Get returns a session and its last use (in memory or in the log).
func (s *Sessions) Get(id string) (SessionRecord, time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.byID[id]
	if !ok {
		return SessionRecord{}, time.Time{}, false
	}
	seen := r.LastSeen
	if t, ok := s.touched[id]; ok && t.After(seen) {
		seen = t
	}
	return *r, seen, true
}

// touch records a use of session id in memory.
func (s *Sessions) touch(id string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[id]; ok && at.After(s.touched[id]) {
		s.touched[id] = at
	}
}

// Active counts live (unexpired) sessions and the distinct agents holding them.
func (s *Sessions) Active(now time.Time) (sessions, agents int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seenAgents := map[string]bool{}
	for id, r := range s.byID {
		last := r.LastSeen
		if t := s.touched[id]; t.After(last) {
			last = t
		}
		if now.Sub(last) <= SessionTTL {
			sessions++
			seenAgents[r.AgentID] = true
		}
	}
	return sessions, len(seenAgents)
}

// State returns every session, ordered by creation, with in-memory touches
// folded in: what a snapshot stores.
func (s *Sessions) State() []SessionRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]SessionRecord, 0, len(s.byID))
	for id, r := range s.byID {
		c := *r
		if t := s.touched[id]; t.After(c.LastSeen) {
			c.LastSeen = t
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created < out[j].Created })
	return out
}

// Restore replaces the projection with a snapshot's state.
func (s *Sessions) Restore(recs []SessionRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID = make(map[string]*SessionRecord, len(recs))
	s.touched = map[string]time.Time{}
	for _, r := range recs {
		r := r
		s.byID[r.ID] = &r
	}
}
