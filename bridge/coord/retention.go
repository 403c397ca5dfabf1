package coord

import (
	"container/heap"
	"time"
)

// Retention is how long settled work (completed or expired delegations,
// completed tasks, ended collaborations, answered, cancelled or expired
// questions) stays in the state for its agents to read. The event log
// keeps it for ever; the state forgets it so a long-running Bridge does
// not grow without bound. Forgetting is driven by event timestamps, so it
// is the same live, on replay and after a snapshot.
const Retention = 24 * time.Hour

// Kinds of item in the retention queue.
const (
	itemDelegation byte = iota
	itemTask
	itemCollaboration
	itemElicitation
)

// dueRef is an item the state may forget at due.
type dueRef struct {
	due  time.Time
	kind byte
	id   string
}

// dueHeap orders dueRefs by due time (then kind and id, so equal times
// pop in a fixed order).
type dueHeap []dueRef

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	if h[i].kind != h[j].kind {
		return h[i].kind < h[j].kind
	}
	return h[i].id < h[j].id
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(dueRef)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// forgetAfter schedules item id to be forgotten Retention after at.
func (st *State) forgetAfter(kind byte, id string, at time.Time) {
	heap.Push(&st.due, dueRef{due: at.Add(Retention), kind: kind, id: id})
}

// prune forgets every item due by now that is settled (or, for a
// question, expired). Items still open are never forgotten.
func (st *State) prune(now time.Time) {
	for len(st.due) > 0 && !st.due[0].due.After(now) {
		r := heap.Pop(&st.due).(dueRef)
		switch r.kind {
		case itemDelegation:
			if d := st.Delegations[r.id]; d != nil && d.Status != StatusPending {
				st.hold(-1, d.charges())
				delete(st.Delegations, r.id)
			}
		case itemTask:
			if t := st.Tasks[r.id]; t != nil && t.Status != StatusPending {
				st.hold(-1, t.charges())
				delete(st.Tasks, r.id)
			}
		case itemCollaboration:
			if c := st.Collaborations[r.id]; c != nil && c.Status != StatusActive {
				st.hold(-1, c.charges())
				delete(st.Collaborations, r.id)
			}
		case itemElicitation:
			if e := st.Elicitations[r.id]; e != nil && (e.Status != StatusPending || !now.Before(e.ExpiresAt)) {
				setDel(st.openElicit, e.To, r.id)
				st.hold(-1, e.charges())
				delete(st.Elicitations, r.id)
			}
		}
	}
}

// rebuildDue refills the retention queue from the items (after a restore).
func (st *State) rebuildDue() {
	st.due = st.due[:0]
	for id, d := range st.Delegations {
		if d.Status != StatusPending && d.CompletedAt != nil {
			st.due = append(st.due, dueRef{d.CompletedAt.Add(Retention), itemDelegation, id})
		}
	}
	for id, t := range st.Tasks {
		if t.Status != StatusPending && t.CompletedAt != nil {
			st.due = append(st.due, dueRef{t.CompletedAt.Add(Retention), itemTask, id})
		}
	}
	for id, c := range st.Collaborations {
		if c.Status != StatusActive && c.EndedAt != nil {
			st.due = append(st.due, dueRef{c.EndedAt.Add(Retention), itemCollaboration, id})
		}
	}
	for id, e := range st.Elicitations {
		at := e.ExpiresAt
		if e.RespondedAt != nil {
			at = *e.RespondedAt
		}
		st.due = append(st.due, dueRef{at.Add(Retention), itemElicitation, id})
	}
	heap.Init(&st.due)
}
