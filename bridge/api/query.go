package api

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// gatherer collects the events a query (or a stream catching up) gives
// one reader: those matching its filter that the reader may read, in
// sequence order, at most Limit of them, their data bounded by maxBytes
// per answer and charged to the bytes in flight until release.
type gatherer struct {
	s        *Server
	id       auth.Identity
	f        store.Filter
	maxBytes int64

	data    int64 // event data and metadata bytes gathered
	held    int64 // charged to the bytes in flight
	refused int64 // data bytes of the event Admit refused
	stopped bool  // Admit refused an event
	busy    bool  // ... because the bytes in flight are spent
	busyErr error // errBusy or errShare

	scanned   int    // events examined, the reader's or not
	scanStop  bool   // the scan limit stopped the read ...
	stopAt    uint64 // ... before this event
	scanLimit int
}

// eventCharge is what one gathered event of n data bytes is charged:
// the decoded event and its encoding in the answer.
func eventCharge(n int64) int64 { return 2*n + 512 }

func (s *Server) gather(id auth.Identity, f store.Filter, maxBytes int64) *gatherer {
	return &gatherer{s: s, id: id, f: f, maxBytes: maxBytes, scanLimit: s.limits.ScanLimit}
}

// release returns the charge; call it once the answer is written.
func (g *gatherer) release() {
	g.s.bodies.give(g.key(), g.held)
	g.held = 0
}

func (g *gatherer) admit(n int) bool {
	if g.stopAt != 0 {
		g.stopped, g.scanStop = true, true
		return false
	}
	size := int64(n)
	if g.data > 0 && g.data+size > g.maxBytes {
		g.stopped, g.refused = true, size
		return false
	}
	if err := g.s.bodies.take(g.key(), eventCharge(size)); err != nil {
		g.stopped, g.busy, g.refused, g.busyErr = true, true, size, err
		return false
	}
	g.held += eventCharge(size)
	g.data += size
	return true
}

func (g *gatherer) drop(e *store.Event) {
	size := int64(len(e.Data) + len(e.Metadata))
	g.data -= size
	g.held -= eventCharge(size)
	g.s.bodies.give(g.key(), eventCharge(size))
}

// key is the reader the charges are held against.
func (g *gatherer) key() budgetKey { return budgetKey{id: g.id.AgentID} }

// run reads pages from the store until Limit visible events are
// gathered, the log ends, or a bound stops it (Truncated, NextSince).
// Inside the store's read only cached visibility is applied (Keep must
// not read the store); an event whose parties are not cached is resolved
// after the read and dropped then if the reader may not see it.
func (g *gatherer) run() (EventQueryResponse, error) {
	out := EventQueryResponse{Events: []store.Event{}}
	// The store reads by one index (or the whole log) and passes every
	// event it reads to Keep, which applies the other filters and counts
	// the scan: past the scan limit it takes the event, for Admit to
	// refuse it, which ends the read before it.
	page, full := store.Filter{Since: g.f.Since}, g.f
	switch {
	case full.AggregateID != "":
		page.AggregateID = full.AggregateID
	case full.AgentID != "":
		page.AgentID = full.AgentID
	case full.Type != "":
		page.Type = full.Type
	}
	page.Keep = func(e *store.Event) bool {
		if g.scanned++; g.scanned > g.scanLimit && g.scanLimit > 0 {
			g.stopAt = e.Sequence
			return true
		}
		if !full.Match(*e) {
			return false
		}
		a, resolved := g.s.quickAudience(e)
		return !resolved || a.allows(g.id)
	}
	page.Admit = g.admit
	for len(out.Events) < g.f.Limit {
		page.Limit = g.f.Limit - len(out.Events)
		g.stopped, g.busy = false, false
		evs, err := g.s.store.Query(page)
		if err != nil {
			return out, fmt.Errorf("query: %w", err)
		}
		for i := range evs {
			page.Since = evs[i].Sequence
			if g.s.audienceOf(&evs[i]).allows(g.id) {
				out.Events = append(out.Events, evs[i])
			} else {
				g.drop(&evs[i])
			}
		}
		if g.scanStop {
			// Every event before stopAt was examined.
			out.Truncated, out.NextSince = true, max(page.Since, g.stopAt-1)
			break
		}
		if !g.stopped {
			if len(evs) < page.Limit {
				break // the log holds no more
			}
			continue
		}
		if g.busy && len(out.Events) == 0 {
			return out, g.s.bodies.refusal(g.key(), g.busyErr)
		}
		if !g.busy && g.data+g.refused <= g.maxBytes {
			continue // dropped events made room for the refused one
		}
		out.Truncated, out.NextSince = true, page.Since
		break
	}
	out.Count = len(out.Events)
	return out, nil
}

// writeQueryAnswer writes out as WriteJSON does, byte for byte, but one
// event at a time: it holds one event's encoding, never the whole
// answer's (which the charge of each event, eventCharge, does not cover).
func writeQueryAnswer(w http.ResponseWriter, out EventQueryResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	fmt.Fprintf(&buf, `{"count":%d,"events":[`, out.Count)
	for i := range out.Events {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(&out.Events[i]); err != nil {
			panic(http.ErrAbortHandler) // an event the store decoded always encodes
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		if buf.Len() >= readChunk {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			buf.Reset()
		}
	}
	buf.WriteByte(']')
	if out.Truncated {
		buf.WriteString(`,"truncated":true`)
	}
	if out.NextSince != 0 {
		fmt.Fprintf(&buf, `,"next_since":%d`, out.NextSince)
	}
	buf.WriteString("}\n")
	w.Write(buf.Bytes())
}
