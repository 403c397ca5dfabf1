package coord

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// The benchmarks compare one delegate-and-complete round trip through the
// Coordinator with its irreducible cost, two durable appends of events of
// the same size straight to the store, on the same disk in the same run;
// and the round trip with and without a long history of settled work,
// which must not slow routing down. Run with
//
//	go test -run '^$' -bench . -benchtime 2000x ./bridge/coord
var benchInput = json.RawMessage(`{"file_path":"src/internal/service/handler.go","content":"package service"}`)

func benchEnv(b *testing.B) *env {
	b.Helper()
	e := &env{dir: b.TempDir(), clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	st, err := store.Open(e.dir, store.Options{Now: e.clock.now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e.st = st
	e.c = New(Options{Store: st, Now: e.clock.now})
	if err := st.Attach(0, e.c); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		if _, err := e.c.Register(ctx, fmt.Sprintf("expert-%d", i), []string{"security", "performance"}); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// withHistory feeds n settled delegations straight into the projection,
// as a replay of a long log would.
func withHistory(b *testing.B, c *Coordinator, n int) {
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("old-%d", i)
		target := fmt.Sprintf("expert-%d", i%8)
		created, _ := json.Marshal(delegationCreated{DelegationID: id, Kind: KindDelegation, Target: target, ToolName: "Write", ToolInput: benchInput})
		done, _ := json.Marshal(delegationCompleted{DelegationID: id, Result: json.RawMessage(`{"ok":true}`)})
		if err := c.Apply(store.Event{Type: EventDelegationCreated, AgentID: "builder", Timestamp: at, Data: created}); err != nil {
			b.Fatal(err)
		}
		if err := c.Apply(store.Event{Type: EventDelegationCompleted, AgentID: target, Timestamp: at, Data: done}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDelegateComplete(b *testing.B) {
	for _, history := range []int{0, 20000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			e := benchEnv(b)
			withHistory(b, e.c, history)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Write", ToolInput: benchInput, Capabilities: []string{"security"}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.c.Complete(ctx, d.Target, d.ID, json.RawMessage(`{"ok":true}`)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBaselineTwoAppends is the floor: two events of the same size
// and indexes (agent, aggregate) appended without the Coordinator.
func BenchmarkBaselineTwoAppends(b *testing.B) {
	e := benchEnv(b)
	created, _ := json.Marshal(delegationCreated{DelegationID: "3f574baf-415c-4366-ab7b-0c95915b3d3b", Kind: KindDelegation,
		Target: "expert-1", ToolName: "Write", ToolInput: benchInput, Capabilities: []string{"security"}})
	done, _ := json.Marshal(delegationCompleted{DelegationID: "3f574baf-415c-4366-ab7b-0c95915b3d3b", Result: json.RawMessage(`{"ok":true}`)})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Other event types, so the projection does no work.
		id := fmt.Sprintf("3f574baf-415c-4366-ab7b-%012d", i)
		if _, err := e.st.Append(ctx, store.Event{Type: "bench_created", AgentID: "builder", AggregateType: "delegation", AggregateID: id, Data: created}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.st.Append(ctx, store.Event{Type: "bench_completed", AgentID: "expert-1", AggregateType: "delegation", AggregateID: id, Data: done}); err != nil {
			b.Fatal(err)
		}
	}
}
