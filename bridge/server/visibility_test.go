package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

func adminSession(t *testing.T, url, agent string) string {
	t.Helper()
	return newSession(t, url, agent, true)
}

// coordinationScenario writes every coordination event type between
// alice (builder) and bob (expert), then a shadow write and a marker,
// through the client, as agents do.
func coordinationScenario(t *testing.T, url string, ag agents) {
	t.Helper()
	ctx := context.Background()
	alice, bob := tokenClient(t, url, ag["alice"]), tokenClient(t, url, ag["bob"])
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := bob.RegisterExpert(ctx, api.RegisterRequest{Capabilities: []string{"security"}})
	must("register", err)
	_, err = bob.Heartbeat(ctx)
	must("heartbeat", err)
	d, err := alice.Delegate(ctx, api.DelegateRequest{ToolName: "Write", TargetExpert: "bob", ToolInput: json.RawMessage(`{"secret":"delegated"}`)})
	must("delegate", err)
	_, err = bob.CompleteDelegation(ctx, d.DelegationID, api.CompleteRequest{Result: json.RawMessage(`{"secret":"answer"}`)})
	must("complete", err)
	// No answer to the escalation: the Bridge expires it (delegation_expired).
	_, err = alice.Validate(ctx, api.ValidateRequest{ToolName: "Write", ToolInput: json.RawMessage(`{"file_path":"src/secret.go"}`)})
	must("validate", err)
	task, err := alice.DispatchTask(ctx, api.TaskRequest{TargetAgent: "bob", Description: "secret task"})
	must("dispatch", err)
	_, err = bob.CompleteTask(ctx, task.TaskID, api.CompleteRequest{Result: json.RawMessage(`"done"`)})
	must("complete task", err)
	c, err := alice.StartCollaboration(ctx, api.CollaborationRequest{Participants: []string{"bob"}, Topic: "secret topic"})
	must("collaborate", err)
	_, err = bob.EndCollaboration(ctx, c.ID, api.EndRequest{Summary: "secret summary"})
	must("end", err)
	e1, err := alice.CreateElicitation(ctx, api.ElicitRequest{ToAgent: "bob", Message: "secret question"})
	must("elicit", err)
	_, err = bob.RespondElicitation(ctx, api.RespondRequest{ElicitationID: e1.ElicitationID, ResponseType: "accept", Data: json.RawMessage(`{"secret":"yes"}`)})
	must("respond", err)
	e2, err := alice.CreateElicitation(ctx, api.ElicitRequest{ToAgent: "bob", Message: "withdrawn"})
	must("elicit", err)
	_, err = alice.RespondElicitation(ctx, api.RespondRequest{ElicitationID: e2.ElicitationID, ResponseType: "cancel"})
	must("cancel", err)
	_, err = alice.PutShadow(ctx, "src/a.go", []byte("package a\n"))
	must("shadow put", err)
	_, err = alice.StoreEvent(ctx, api.EventStoreRequest{EventType: "visibility_marker", Data: json.RawMessage(`1`)})
	must("marker", err)
}

// mayRead is the access rule, written out independently of the code: who
// besides admins may read each event of the scenario.
func mayRead(e store.Event, reader string) bool {
	switch {
	case reader == "root":
		return true
	case slices.Contains(coord.EventTypes(), e.Type) && e.Type != coord.EventExpertRegistered && e.Type != coord.EventExpertHeartbeat:
		return reader == "alice" || reader == "bob" // the two parties of every item
	case e.Type == auth.EventSessionCreated, e.Type == auth.EventSessionRefreshed, e.Type == api.EventValidationDecision:
		return reader == e.AgentID
	}
	return true // registrations, heartbeats, shadow files, the agents' own types
}

func queryAll(t *testing.T, url, tok string, q api.EventQuery) []store.Event {
	t.Helper()
	q.Limit = 1000
	res, err := tokenClient(t, url, tok).QueryEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	return res.Events
}

// streamAll reads /event/stream from the start until the marker event.
func streamAll(t *testing.T, url, tok string) []store.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []store.Event
	errMarker := errors.New("marker")
	err := tokenClient(t, url, tok).Stream(ctx, 0, client.StreamOptions{MaxAttempts: 1}, func(e store.Event) error {
		out = append(out, e)
		if e.Type == "visibility_marker" {
			return errMarker
		}
		return nil
	})
	if !errors.Is(err, errMarker) {
		t.Fatalf("stream ended before the marker after %d events: %v", len(out), err)
	}
	return out
}

func seqsOf(evs []store.Event) []uint64 {
	out := make([]uint64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Sequence)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TestEveryReadPathAppliesVisibility runs every coordination event type
// through every read path (query, with and without each index; stream;
// the FUSE view; backup) as a non-participant, as the participants and as
// an admin, before and after a restart (when the parties of follow-up
// events must be read back from the log).
func TestEveryReadPathAppliesVisibility(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MountPoint = filepath.Join(dir, "mnt")
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	r := startClocked(t, cfg, clk, 100*time.Millisecond)
	ag := agents{}
	for _, a := range []string{"alice", "bob", "carol"} {
		ag[a] = session(t, r.url, a)
	}
	ag["root"] = adminSession(t, r.url, "root")
	coordinationScenario(t, r.url, ag)

	all := queryAll(t, r.url, ag["root"], api.EventQuery{})
	seen := map[string]bool{}
	for _, e := range all {
		seen[e.Type] = true
	}
	for _, typ := range append(coord.EventTypes(), auth.EventSessionCreated, api.EventValidationDecision, shadow.TypeFileModified) {
		if !seen[typ] {
			t.Fatalf("the scenario wrote no %s event: add it, so its visibility is tested", typ)
		}
	}
	check := func(phase, url string) {
		for _, reader := range []string{"alice", "bob", "carol", "root"} {
			var want []store.Event
			for _, e := range all {
				if mayRead(e, reader) {
					want = append(want, e)
				}
			}
			if got := seqsOf(queryAll(t, url, ag[reader], api.EventQuery{})); !slices.Equal(got, seqsOf(want)) {
				t.Errorf("%s: query as %s gave %v, want %v", phase, reader, got, seqsOf(want))
			}
			// Each index (type, aggregate, agent) gives the same answer.
			for _, e := range all {
				for _, p := range []api.EventQuery{{EventType: e.Type}, {AggregateID: e.AggregateID}, {AgentID: e.AgentID}} {
					if p == (api.EventQuery{}) {
						continue
					}
					for _, got := range queryAll(t, url, ag[reader], p) {
						if !mayRead(got, reader) {
							t.Errorf("%s: query %+v as %s gave %s %d", phase, p, reader, got.Type, got.Sequence)
						}
					}
				}
			}
			if got := seqsOf(streamAll(t, url, ag[reader])); !slices.Equal(got, seqsOf(want)) {
				t.Errorf("%s: stream as %s gave %v, want %v", phase, reader, got, seqsOf(want))
			}
		}
		if r := call(t, "GET", url+"/admin/backup", ag["carol"], ""); r.code != http.StatusForbidden {
			t.Errorf("%s: backup as carol: %d", phase, r.code)
		}
		if r := call(t, "GET", url+"/admin/backup", ag["root"], ""); r.code != 200 || len(r.raw) == 0 {
			t.Errorf("%s: backup as root: %d", phase, r.code)
		}
	}
	check("live", r.url)

	// The view has no agent identity: events/ shows what everyone may read.
	events := filepath.Join(cfg.MountPoint, "events")
	names, err := os.ReadDir(events)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[uint64]bool{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(events, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var e store.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		shown[e.Sequence] = true
	}
	for _, e := range all {
		if everyone := mayRead(e, "nobody"); shown[e.Sequence] != everyone {
			t.Errorf("events/%d.json (%s) shown %v, want %v", e.Sequence, e.Type, shown[e.Sequence], everyone)
		}
	}

	// After a restart nothing is cached: the parties of a completion are
	// read back from the event that created its item.
	r.shutdown(t)
	r2 := startClocked(t, testConfig(dir), clk, 100*time.Millisecond)
	check("restarted", r2.url)
}
