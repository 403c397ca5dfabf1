package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// notesPart declares a Participants type whose parties are named in its
// data ("to") and a follow-up type that shares them through its
// aggregate, as the coordination types do.
func notesPart() Part {
	parties := func(e store.Event) ([]string, string) {
		if e.Type == "secret_reply" {
			return []string{e.AgentID}, "secret_note"
		}
		var d struct{ To string }
		json.Unmarshal(e.Data, &d)
		return []string{e.AgentID, d.To}, ""
	}
	return Part{Name: "notes", Writes: []EventType{
		{Name: "secret_note", Visibility: Participants, Parties: parties},
		{Name: "secret_reply", Visibility: Participants, Parties: parties},
		{Name: "audit_only", Visibility: Admins},
	}}
}

func queryEvents(t *testing.T, e *env, tok, params string) EventQueryResponse {
	t.Helper()
	code, b := e.do("GET", "/event/query?"+params, tok, "")
	if code != 200 {
		t.Fatalf("query %s: %d %s", params, code, b)
	}
	return decode[EventQueryResponse](t, b)
}

// TestQueryGivesWhatTheReaderMaySee: a query pages through events its
// reader may not see until it has limit events it may, with every index,
// and a follow-up event's parties are read back from the event that
// created its aggregate.
func TestQueryGivesWhatTheReaderMaySee(t *testing.T) {
	e := newEnv(t)
	e.srv.Add(notesPart())
	alice, bob, carol := e.session("alice", false), e.session("bob", false), e.session("carol", false)
	root := e.session("root", true)
	base := e.store.LastSequence() // the sessions: each agent reads its own
	var evs []store.Event
	for i := range 300 {
		id := fmt.Sprintf("n%d", i)
		evs = append(evs,
			store.Event{Type: "secret_note", AgentID: "alice", AggregateID: id, Data: json.RawMessage(`{"to":"bob"}`)},
			store.Event{Type: "secret_reply", AgentID: "bob", AggregateID: id, Data: json.RawMessage(`{"text":"secret"}`)},
			store.Event{Type: "audit_only", AgentID: "alice", AggregateID: id, Data: json.RawMessage(`1`)})
	}
	for i := range 5 {
		evs = append(evs, store.Event{Type: "public_note", AgentID: "alice", Data: json.RawMessage(fmt.Sprint(i))})
	}
	if _, err := e.store.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"limit=5", "limit=5&agent_id=alice", "limit=5&start_time=0"} {
		got := queryEvents(t, e, carol, fmt.Sprintf("%s&since=%d", q, base))
		if got.Count != 5 || got.Truncated {
			t.Fatalf("carol %s: %d events (truncated %v)", q, got.Count, got.Truncated)
		}
		for _, ev := range got.Events {
			if ev.Type != "public_note" {
				t.Fatalf("carol %s got %s %d", q, ev.Type, ev.Sequence)
			}
		}
	}
	for _, q := range []string{"event_type=secret_reply", "event_type=secret_note", "aggregate_id=n7", "event_type=audit_only", "agent_id=bob"} {
		if got := queryEvents(t, e, carol, q); got.Count != 0 {
			t.Errorf("carol %s: %d events", q, got.Count)
		}
	}
	// The replies are bob's; alice reads them as the notes' author.
	for who, tok := range map[string]string{"alice": alice, "bob": bob, "root": root} {
		if got := queryEvents(t, e, tok, "event_type=secret_reply&limit=1000"); got.Count != 300 {
			t.Errorf("%s reads %d of 300 replies", who, got.Count)
		}
	}
	if got := queryEvents(t, e, alice, "event_type=audit_only"); got.Count != 0 {
		t.Errorf("alice reads %d admin-only events", got.Count)
	}
	if got := queryEvents(t, e, root, "event_type=audit_only&limit=1000"); got.Count != 300 {
		t.Errorf("root reads %d of 300 admin-only events", got.Count)
	}
	if !e.srv.PublicEventType("public_note") || e.srv.PublicEventType("secret_note") || e.srv.PublicEventType("audit_only") {
		t.Error("PublicEventType disagrees with the declared visibilities")
	}
}

// TestQueryAnswerIsBounded: one answer gathers at most MaxQueryBytes of
// event data (the first event always fits), says so, and continues from
// next_since; a spent budget with nothing gathered is 503.
func TestQueryAnswerIsBounded(t *testing.T) {
	e := newEnvWith(t, Limits{MaxQueryBytes: 100 << 10})
	tok := e.session("alice", false)
	pad := strings.Repeat("x", 30<<10)
	for i := range 10 {
		if code, b := e.do("POST", "/event/store", tok, fmt.Sprintf(`{"event_type":"big","data":{"i":%d,"pad":%q}}`, i, pad)); code != 200 {
			t.Fatalf("store: %d %s", code, b)
		}
	}
	var got []int
	since := uint64(1)
	for page := 0; page < 10; page++ {
		r := queryEvents(t, e, tok, fmt.Sprintf("event_type=big&limit=10&since=%d", since))
		for _, ev := range r.Events {
			var d struct{ I int }
			json.Unmarshal(ev.Data, &d)
			got = append(got, d.I)
		}
		if !r.Truncated {
			break
		}
		if r.Count != 3 || r.NextSince != r.Events[len(r.Events)-1].Sequence {
			t.Fatalf("a bounded page: %d events, next_since %d", r.Count, r.NextSince)
		}
		since = r.NextSince
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Fatalf("paged through %v", got)
	}
	// The bytes in flight are spent: nothing gathered is 503, not an empty answer.
	other, all := budgetKey{id: "other"}, e.srv.bodies.max
	if err := e.srv.bodies.take(other, all); err != nil {
		t.Fatal(err)
	}
	defer e.srv.bodies.give(other, all)
	req, _ := http.NewRequest("GET", e.url+"/event/query?event_type=big", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with the budget spent: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestUnreadAnswerFreesItsBytes: a client that asks for a large answer
// and never reads it holds its handler and its bytes in flight only until
// a write makes no progress for WriteTimeout.
func TestUnreadAnswerFreesItsBytes(t *testing.T) {
	e := newEnvWith(t, Limits{WriteTimeout: 300 * time.Millisecond})
	tok := e.session("alice", false)
	pad := strings.Repeat("x", 900_000)
	for i := range 14 {
		if code, b := e.do("POST", "/event/store", tok, fmt.Sprintf(`{"event_type":"big","data":{"i":%d,"pad":%q}}`, i, pad)); code != 200 {
			t.Fatalf("store: %d %.100s", code, b)
		}
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /event/query?event_type=big&limit=14 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok)
	held := false
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := e.srv.bodies.InFlight()
		held = held || n > 0
		if held && n == 0 {
			return // freed, while the client still has not read a byte
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still held by an answer nobody reads (held at all: %v)", n, held)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestQueryAnswerIsWrittenAsWriteJSON: the answer written event by event
// is WriteJSON's, byte for byte, including HTML characters, which are
// not escaped (an event of 1 MiB of '<' was a 6 MiB answer).
func TestQueryAnswerIsWrittenAsWriteJSON(t *testing.T) {
	evs := []store.Event{
		{Sequence: 1, ID: "a", Type: "note", AgentID: "x", Data: json.RawMessage(`"<a&b>"`)},
		{Sequence: 2, ID: "b", Type: "note", AgentID: "y", Data: json.RawMessage(`{"k":[1,2,"` + strings.Repeat("<", 40000) + `"]}`), Metadata: json.RawMessage(`{"m":"\u2028"}`)},
	}
	for _, out := range []EventQueryResponse{
		{Events: []store.Event{}},
		{Count: 2, Events: evs},
		{Count: 1, Events: evs[:1], Truncated: true, NextSince: 7},
	} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		WriteJSON(want, http.StatusOK, out)
		writeQueryAnswer(got, out)
		if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Fatalf("streamed answer differs:\n%.300s\nwant\n%.300s", got.Body.Bytes(), want.Body.Bytes())
		}
		if bytes.Contains(got.Body.Bytes(), []byte(`\u003c`)) {
			t.Fatalf("'<' escaped for HTML: %.200s", got.Body.Bytes())
		}
	}
}

// TestQueryScanIsBounded: events the reader may not see cost a query at
// most Limits.ScanLimit of them: past it the answer is cut short with
// next_since, and following next_since pages through to the events the
// reader may see, with every index and with time bounds. On main one
// query scanned the whole log (0.55-0.75 s with 100,000 hidden events).
func TestQueryScanIsBounded(t *testing.T) {
	e := newEnvWith(t, Limits{ScanLimit: 100})
	e.srv.Add(notesPart())
	carol := e.session("carol", false)
	base := e.store.LastSequence()
	var evs []store.Event
	for i := range 1000 {
		evs = append(evs, store.Event{Type: "secret_note", AgentID: "alice", AggregateID: "n", Data: json.RawMessage(`{"to":"bob"}`)})
		if i%250 == 249 {
			evs = append(evs, store.Event{Type: "public_note", AgentID: "alice", AggregateID: "n", Data: json.RawMessage(fmt.Sprint(i))})
		}
	}
	if _, err := e.store.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"limit=10", "limit=10&agent_id=alice", "limit=10&aggregate_id=n", "limit=10&start_time=0", "limit=10&agent_id=alice&event_type=public_note"} {
		since, pages, got := base, 0, 0
		for ; pages < 100; pages++ {
			r := queryEvents(t, e, carol, fmt.Sprintf("%s&since=%d", q, since))
			got += r.Count
			if !r.Truncated {
				break
			}
			if r.NextSince <= since {
				t.Fatalf("%s: next_since %d does not move past %d", q, r.NextSince, since)
			}
			since = r.NextSince
		}
		if got != 4 || pages < 5 {
			t.Fatalf("%s: %d of 4 public notes in %d pages, want them all over at least 5 pages of at most 100 events examined", q, got, pages)
		}
	}
}
