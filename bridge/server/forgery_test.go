package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// sessionID reads the session id out of a token (sid.agent.issued.sig).
func sessionIDOf(t *testing.T, tok string) (string, int64) {
	t.Helper()
	pt, err := auth.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return pt.SessionID, pt.Issued
}

// TestEventStoreRefusesTheBridgesOwnTypes: QA turned a builder's token
// into an admin one by posting its own session_created with admin:true.
// Every type the Bridge writes itself is refused with 403 naming the
// route that writes it, and the forgery grants nothing.
func TestEventStoreRefusesTheBridgesOwnTypes(t *testing.T) {
	r, _ := startOpts(t, testConfig(t.TempDir()), Options{})
	tok := session(t, r.url, "builder-1")
	sid, issued := sessionIDOf(t, tok)
	forged := fmt.Sprintf(`{"event_type":"session_created","data":{"session_id":%q,"agent_id":"builder-1","admin":true,"issued_at":%d}}`, sid, issued)
	code, m := post(t, r.url+"/event/store", tok, forged)
	if code != http.StatusForbidden || !strings.Contains(fmt.Sprint(m["detail"]), "POST /session/create") {
		t.Fatalf("forged session_created: %d %v, want 403 naming POST /session/create", code, m)
	}
	if code, body, _ := do(t, "GET", r.url+"/admin/backup", tok, nil); code != http.StatusForbidden {
		t.Fatalf("GET /admin/backup after the forgery: %d %.200s, want 403", code, body)
	}

	want := map[string]string{
		auth.EventSessionCreated:        "POST /session/create",
		auth.EventSessionRefreshed:      "",
		"validation_decision":           "POST /validate",
		shadow.TypeFileModified:         "PUT /shadow/",
		shadow.TypeFileDeleted:          "DELETE /shadow/",
		coord.EventElicitationCreated:   "POST /elicitation/create",
		coord.EventDelegationCreated:    "POST /expert/delegate",
		coord.EventExpertRegistered:     "POST /expert/register",
		coord.EventElicitationCancelled: "POST /elicitation/respond",
	}
	for _, typ := range coord.EventTypes() {
		if _, ok := want[typ]; !ok {
			want[typ] = ""
		}
	}
	reserved := r.b.API().ReservedEventTypes()
	for typ, route := range want {
		if got, ok := reserved[typ]; !ok || !strings.Contains(got, route) {
			t.Errorf("reserved[%s] = %q, %v; want a route containing %q", typ, got, ok, route)
		}
	}
	for typ, route := range reserved {
		body := fmt.Sprintf(`{"event_type":%q,"data":"oops"}`, typ)
		code, m := post(t, r.url+"/event/store", tok, body)
		detail := fmt.Sprint(m["detail"])
		if code != http.StatusForbidden || !strings.Contains(detail, "written only by the Bridge") || !strings.Contains(detail, route) {
			t.Errorf("POST /event/store %s: %d %q, want 403 naming %q", typ, code, detail, route)
		}
	}
	// Nothing of it was stored: the log holds the session only.
	if last := r.b.Store().LastSequence(); last != 1 {
		t.Errorf("last sequence %d after refused appends, want 1", last)
	}
	// Types of the agents' own still go through.
	if code, m := post(t, r.url+"/event/store", tok, `{"event_type":"build_started","data":{"n":1}}`); code != 200 {
		t.Errorf("ordinary event: %d %v", code, m)
	}
}

// TestReplaySkipsEventsNoProjectionCanApply: stores written before the
// fix hold events posted through /event/store that no projection can
// apply. The Bridge must still start, serve, keep what it can, and say
// in its log and metrics which events it skipped.
func TestReplaySkipsEventsNoProjectionCanApply(t *testing.T) {
	cfg := testConfig(t.TempDir())
	st, err := store.Open(cfg.EventStorePath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sid := "00112233445566778899aabbccddeeff"
	good, _ := json.Marshal(map[string]any{"session_id": sid, "agent_id": "builder-1", "issued_at": time.Now().Unix()})
	forgedAdmin, _ := json.Marshal(map[string]any{"session_id": sid, "agent_id": "builder-1", "admin": true, "issued_at": time.Now().Unix()})
	evs := []store.Event{
		{Type: auth.EventSessionCreated, AgentID: "builder-1", AggregateID: sid, AggregateType: "session", Data: good},
		{Type: auth.EventSessionCreated, AgentID: "builder-1", Data: json.RawMessage(`"oops"`)},
		{Type: shadow.TypeFileModified, AgentID: "builder-1", Data: json.RawMessage(`{"path":"a.txt","size":-5,"sha256":"x","content":""}`)},
		{Type: shadow.TypeFileModified, AgentID: "builder-1", Data: json.RawMessage(`{"path":"../../etc/x","size":1,"content":"eA=="}`)},
		{Type: coord.EventExpertRegistered, AgentID: "builder-1", Data: json.RawMessage(`"oops"`)},
		// Another agent forging builder-1's session as admin.
		{Type: auth.EventSessionCreated, AgentID: "mallory", Data: forgedAdmin},
	}
	for _, e := range evs {
		if _, err := st.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r, log := startOpts(t, cfg, Options{})
	// It serves: a new session and a shadow write work.
	tok := session(t, r.url, "alice")
	putFile(t, r.url, tok, "src/main.go", "package main\n")
	for seq, typ := range map[int]string{2: auth.EventSessionCreated, 3: shadow.TypeFileModified, 4: shadow.TypeFileModified, 5: coord.EventExpertRegistered, 6: auth.EventSessionCreated} {
		if !hasSkipWarning(log.String(), seq, typ) {
			t.Errorf("no warning for skipped event %d (%s) in the log:\n%s", seq, typ, log)
		}
	}
	// The legitimate session survives; the forgery did not make it admin.
	rec, _, ok := r.b.Sessions().Get(sid)
	if !ok || rec.Admin || rec.AgentID != "builder-1" {
		t.Errorf("session %s after replay: %+v, %v; want builder-1, not admin", sid, rec, ok)
	}
	code, body, _ := do(t, "GET", r.url+"/metrics", "", nil)
	if code != 200 || !strings.Contains(string(body), `lighthouse_projection_events_skipped_total{event_type="file_modified",projection="shadow"} 2`) ||
		!strings.Contains(string(body), `lighthouse_projection_events_skipped_total{event_type="session_created",projection="sessions"} 2`) {
		t.Errorf("metrics do not count the skipped events:\n%s", grepLines(string(body), "skipped"))
	}
}

// hasSkipWarning finds the JSON log line of a skipped event.
func hasSkipWarning(log string, seq int, typ string) bool {
	for _, line := range strings.Split(log, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["level"] == "WARN" && m["sequence"] == float64(seq) && m["event_type"] == typ && strings.Contains(fmt.Sprint(m["msg"]), "skipped") {
			return true
		}
	}
	return false
}
