package api

import (
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// TestEventQueryIsWhatParseFilterReads: a client's EventQuery, encoded,
// is read back by the server into the same filter, every field of it.
func TestEventQueryIsWhatParseFilterReads(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	q := EventQuery{EventType: "build_done", AgentID: "alice", AggregateID: "a b&c=d", Since: 42,
		StartTime: start, EndTime: start.Add(time.Hour), Limit: 1000}
	f, err := ParseFilter(q.Values())
	if err != nil {
		t.Fatal(err)
	}
	want := store.Filter{Type: "build_done", AgentID: "alice", AggregateID: "a b&c=d", Since: 42,
		Start: start.UTC(), End: start.Add(time.Hour).UTC(), Limit: 1000}
	if f.Type != want.Type || f.AgentID != want.AgentID || f.AggregateID != want.AggregateID || f.Since != want.Since ||
		!f.Start.Equal(want.Start) || !f.End.Equal(want.End) || f.Limit != want.Limit {
		t.Fatalf("ParseFilter(%v) = %+v, want %+v", q.Values(), f, want)
	}
	if got := (EventQuery{}).Values(); len(got) != 0 {
		t.Fatalf("the zero query encodes as %v", got)
	}
	if f, err := ParseFilter(EventQuery{}.Values()); err != nil || f.Limit != DefaultQueryLimit {
		t.Fatalf("zero query: %+v %v", f, err)
	}
}
