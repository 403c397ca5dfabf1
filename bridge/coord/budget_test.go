package coord

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestStateBytesAreBounded: the payloads of coordination work are
// charged to the agents that wrote them, bounded per agent (429 with
// Retry-After, naming LIGHTHOUSE_COORD_MAX_AGENT_BYTES) and in all (507,
// naming LIGHTHOUSE_COORD_MAX_BYTES), with nothing stored beyond; the
// charges return when the work settles and is forgotten, and a replay or
// a snapshot counts the same. On main tasks of 1 MiB to made-up agents
// were kept without bound: the reviewer's bridge was OOM-killed after
// about 520 of them in 1 GiB.
func TestStateBytesAreBounded(t *testing.T) {
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		limits: Limits{MaxBytes: 2 << 20, MaxAgentBytes: 1 << 20}}
	e.open()
	ctx := context.Background()
	data := json.RawMessage(`"` + strings.Repeat("<", 300_000) + `"`)
	dispatch := func(from, to string) (Task, error) {
		return e.c.Dispatch(ctx, from, TaskRequest{TargetAgent: to, Description: "d", Data: data})
	}
	var mine []string
	for i := range 3 {
		tk, err := dispatch("mallory", fmt.Sprintf("nobody-%d", i))
		if err != nil {
			t.Fatalf("task %d of mallory: %v", i, err)
		}
		mine = append(mine, tk.ID)
	}
	before := e.st.LastSequence()
	_, err := dispatch("mallory", "nobody-9")
	ce := wantKind(t, err, RateLimited)
	if ce.RetryAfter <= 0 || !strings.Contains(ce.Message, EnvMaxAgentBytes) {
		t.Fatalf("over mallory's bytes: %+v", ce)
	}
	// Other writers of mallory's: an elicitation, a collaboration.
	_, err = e.c.CreateElicitation(ctx, "mallory", ElicitRequest{To: "bob", Message: strings.Repeat("m", 300_000)})
	wantKind(t, err, RateLimited)
	_, err = e.c.StartCollaboration(ctx, "mallory", []string{"bob"}, strings.Repeat("t", 300_000))
	wantKind(t, err, RateLimited)
	for i := range 3 {
		if _, err := dispatch("eve", fmt.Sprintf("nobody-%d", i)); err != nil {
			t.Fatalf("task %d of eve: %v", i, err)
		}
	}
	_, err = dispatch("trudy", "nobody-9")
	if ce := wantKind(t, err, Full); !strings.Contains(ce.Message, EnvMaxBytes) {
		t.Fatalf("over the total: %+v", ce)
	}
	if e.st.LastSequence() != before+3 {
		t.Fatalf("refused work was stored: sequence %d, want %d", e.st.LastSequence(), before+3)
	}
	// Small work still fits.
	if _, err := e.c.Dispatch(ctx, "alice", TaskRequest{TargetAgent: "bob", Description: "small"}); err != nil {
		t.Fatalf("a small task: %v", err)
	}
	// A replay and a snapshot count the same.
	held, total := e.c.st.held["mallory"], e.c.st.heldTotal
	snap, err := e.c.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(snap), `\u003c`) || len(snap) > 2<<20 {
		t.Fatalf("snapshot of %d bytes escapes '<' for HTML", len(snap))
	}
	e.reopen()
	if e.c.st.held["mallory"] != held || e.c.st.heldTotal != total {
		t.Fatalf("after replay: mallory %d of %d, want %d of %d", e.c.st.held["mallory"], e.c.st.heldTotal, held, total)
	}
	c2 := New(Options{Now: e.clock.now})
	if err := c2.RestoreState(snap); err != nil || c2.st.held["mallory"] != held || c2.st.heldTotal != total {
		t.Fatalf("after restore (%v): mallory %d of %d, want %d of %d", err, c2.st.held["mallory"], c2.st.heldTotal, held, total)
	}
	// Mallory's tasks, sent to bob, complete, and leave after Retention.
	for i := range 3 {
		if _, err := dispatch("mallory", "bob"); err == nil {
			t.Fatalf("task %d to bob passed mallory's bound", i)
		}
	}
	e.c.mu.Lock()
	for _, id := range mine {
		e.c.st.Tasks[id].To = "bob" // as if they had been sent to bob
	}
	e.c.st.reindex()
	e.c.mu.Unlock()
	for _, id := range mine {
		if _, err := e.c.CompleteTask(ctx, "bob", id, json.RawMessage(`"ok"`)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.add(Retention + time.Second)
	if _, err := e.c.Dispatch(ctx, "carol", TaskRequest{TargetAgent: "bob", Description: "tick"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dispatch("mallory", "nobody-9"); err != nil {
		t.Fatalf("after mallory's work was forgotten: %v", err)
	}
}
