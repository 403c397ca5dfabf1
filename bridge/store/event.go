// Package store is the Bridge's durable, append-only event log on bbolt.
// It knows nothing of HTTP: the API layer turns requests into Events and
// projections (shadow files, sessions, coordination) are rebuilt from them.
package store

import (
	"encoding/json"
	"time"
)

// Event is one record of the log. The store assigns Sequence, ID and
// Timestamp when the event is appended; callers fill in the rest.
type Event struct {
	Sequence      uint64          `json:"sequence"`
	ID            string          `json:"event_id"`
	Type          string          `json:"event_type"`
	AggregateID   string          `json:"aggregate_id,omitempty"`
	AggregateType string          `json:"aggregate_type,omitempty"`
	AgentID       string          `json:"agent_id,omitempty"`
	Timestamp     time.Time       `json:"timestamp"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	// Blobs are stored content-addressed in the same transaction as the
	// event (see Blob); Data refers to them by hash. They are not part of
	// the event's JSON and are never read back into an Event.
	Blobs []Blob `json:"-"`
}

// Projection is state derived from the log. Start-up replays every event
// (or the tail after a snapshot) through Apply in sequence order, and every
// appended event is applied once it is durable. Apply must be
// deterministic: the same events give the same state.
type Projection interface {
	Apply(Event) error
}
