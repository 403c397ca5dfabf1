package api

import (
	"errors"
	"testing"
)

// TestBodyBudgetPools: agents and unauthenticated clients draw on pools
// of their own, each client within its share: agents that spend the
// whole bytes in flight leave session creation its reserve, and
// unauthenticated clients that spend the reserve leave agents theirs.
func TestBodyBudgetPools(t *testing.T) {
	b := newBodyBudget(8<<20, 4<<20)
	a1, a2 := budgetKey{id: "a1"}, budgetKey{id: "a2"}
	if err := b.take(a1, 4<<20); err != nil {
		t.Fatal(err)
	}
	if err := b.take(a1, 1); !errors.Is(err, errShare) {
		t.Fatalf("a1 past its share: %v", err)
	}
	if err := b.take(a2, 4<<20); err != nil {
		t.Fatal(err)
	}
	if err := b.take(budgetKey{id: "a3"}, 1); !errors.Is(err, errBusy) {
		t.Fatalf("a3 with the agents' pool spent: %v", err)
	}
	// Unauthenticated clients: their own pool, 4 bodies per address.
	n := 0
	for i := 0; ; i++ {
		k := budgetKey{id: string(rune('A' + i/4)), public: true}
		if err := b.take(k, MaxPublicBodyBytes); err != nil {
			if !errors.Is(err, errBusy) {
				t.Fatalf("public body %d: %v", i, err)
			}
			break
		}
		n++
	}
	if n != publicReserve/MaxPublicBodyBytes {
		t.Fatalf("%d public bodies fit the reserve of %d", n, publicReserve)
	}
	if err := b.take(budgetKey{id: "x", public: true}, 1); !errors.Is(err, errBusy) {
		t.Fatal("the reserve is spent")
	}
	k := budgetKey{id: "solo", public: true}
	b.give(budgetKey{id: "A", public: true}, 4*MaxPublicBodyBytes)
	b.give(budgetKey{id: "B", public: true}, MaxPublicBodyBytes)
	for i := range 4 {
		if err := b.take(k, MaxPublicBodyBytes); err != nil {
			t.Fatalf("solo body %d: %v", i, err)
		}
	}
	if err := b.take(k, 1); !errors.Is(err, errShare) {
		t.Fatalf("one address past its share: %v", err)
	}
	// Agents' pool untouched by the public one, and returned whole.
	b.give(a1, 4<<20)
	if err := b.take(budgetKey{id: "a3"}, 4<<20); err != nil {
		t.Fatalf("a3 once a1 is done: %v", err)
	}
	if got := b.InFlight(); got != 8<<20+publicReserve-MaxPublicBodyBytes {
		t.Fatalf("in flight %d", got)
	}
}
