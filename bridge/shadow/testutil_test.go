package shadow

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// log builds events with consecutive sequences and one second between them.
type log struct {
	t      testing.TB
	events []store.Event
}

func (l *log) add(typ string, data any) store.Event {
	l.t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		l.t.Fatal(err)
	}
	seq := uint64(len(l.events) + 1)
	ev := store.Event{Sequence: seq, ID: "ev", Type: typ, AgentID: "builder", Timestamp: t0.Add(time.Duration(seq) * time.Second), Data: raw}
	l.events = append(l.events, ev)
	return ev
}

func (l *log) put(p, content string) store.Event {
	l.t.Helper()
	fm, err := NewFileModified(p, []byte(content))
	if err != nil {
		l.t.Fatal(err)
	}
	return l.add(TypeFileModified, fm)
}

func (l *log) del(p string) store.Event {
	l.t.Helper()
	fd, err := NewFileDeleted(p)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.add(TypeFileDeleted, fd)
}

func replay(t testing.TB, p *Projection, evs []store.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := p.Apply(ev); err != nil {
			t.Fatalf("apply %d: %v", ev.Sequence, err)
		}
	}
}

// tree renders a view as path -> content, the projection's observable state.
func tree(v View) map[string]string {
	out := map[string]string{}
	v.Walk(func(f File) { out[f.Path] = string(f.Content) })
	return out
}
