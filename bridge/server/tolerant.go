package server

import (
	"fmt"
	"log/slog"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// tolerant wraps a projection so that an event it cannot apply is logged
// and counted instead of failing: the log is append-only, so an event
// stored before the Bridge learnt to refuse it (a forged session event, a
// malformed file_modified) or one that lost a race (a write that
// conflicted) would otherwise stop every later start-up at replay. The
// event stays in the log for the audit trail and changes nothing.
type tolerant struct {
	p       store.Projection
	name    string
	log     *slog.Logger
	skipped func(projection, eventType string)
}

// Apply implements store.Projection and never fails.
func (t tolerant) Apply(e store.Event) error {
	if err := t.p.Apply(e); err != nil {
		t.log.Warn("projection skipped an event it cannot apply",
			"projection", t.name, "sequence", e.Sequence, "event_type", e.Type, "agent_id", e.AgentID, "error", err.Error())
		t.skipped(t.name, e.Type)
	}
	return nil
}

// tolerate wraps every projection of ps in tolerant.
func (b *Bridge) tolerate(ps []store.Projection) []store.Projection {
	out := make([]store.Projection, len(ps))
	for i, p := range ps {
		out[i] = tolerant{p: p, name: projectionName(p), log: b.log, skipped: func(name, typ string) {
			b.metrics.ProjectionSkipped.WithLabelValues(name, typ).Inc()
		}}
	}
	return out
}

// projectionName is the metric label of a projection: the built-in ones
// by their concern, added ones by their Go type.
func projectionName(p store.Projection) string {
	switch p.(type) {
	case *auth.Sessions:
		return "sessions"
	case *coord.Coordinator:
		return "coordination"
	case *shadow.Projection:
		return "shadow"
	case *snapshotter:
		return "snapshots"
	}
	return fmt.Sprintf("%T", p)
}
