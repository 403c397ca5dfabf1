package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

func adminSession(t *testing.T, url, agent string) string {
	t.Helper()
	key, _ := auth.AgentKey(secret, agent, true)
	code, m := post(t, url+"/session/create", "", fmt.Sprintf(`{"agent_id":%q,"agent_key":%q}`, agent, key))
	if code != 200 {
		t.Fatalf("admin session: %d %v", code, m)
	}
	return m["session_token"].(string)
}

// coordinationScenario writes every coordination event type between
// alice (builder) and bob (expert), then a shadow write and a marker.
func coordinationScenario(t *testing.T, url string, ag agents) {
	t.Helper()
	ag.do(t, url, "bob", "POST", "/expert/register", `{"capabilities":["security"]}`, 200)
	ag.do(t, url, "bob", "POST", "/expert/heartbeat", ``, 200)
	d := ag.do(t, url, "alice", "POST", "/expert/delegate", `{"tool_name":"Write","target_expert":"bob","tool_input":{"secret":"delegated"}}`, 200).str("delegation_id")
	ag.do(t, url, "bob", "POST", "/expert/delegations/"+d+"/complete", `{"result":{"secret":"answer"}}`, 200)
	// No answer to the escalation: the Bridge expires it (delegation_expired).
	ag.do(t, url, "alice", "POST", "/validate", `{"tool_name":"Write","tool_input":{"file_path":"src/secret.go"}}`, 200)
	task := ag.do(t, url, "alice", "POST", "/task/dispatch", `{"target_agent":"bob","description":"secret task"}`, 200).str("task_id")
	ag.do(t, url, "bob", "POST", "/task/"+task+"/complete", `{"result":"done"}`, 200)
	c := ag.do(t, url, "alice", "POST", "/collaboration/start", `{"participants":["bob"],"topic":"secret topic"}`, 200).str("collaboration_id")
	ag.do(t, url, "bob", "POST", "/collaboration/"+c+"/end", `{"summary":"secret summary"}`, 200)
	e1 := ag.do(t, url, "alice", "POST", "/elicitation/create", `{"to_agent":"bob","message":"secret question"}`, 200).str("elicitation_id")
	ag.do(t, url, "bob", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"accept","data":{"secret":"yes"}}`, e1), 200)
	e2 := ag.do(t, url, "alice", "POST", "/elicitation/create", `{"to_agent":"bob","message":"withdrawn"}`, 200).str("elicitation_id")
	ag.do(t, url, "alice", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"cancel"}`, e2), 200)
	if code, _, _ := do(t, "PUT", url+"/shadow/src/a.go", ag["alice"], []byte("package a\n")); code != 200 {
		t.Fatalf("shadow put: %d", code)
	}
	ag.do(t, url, "alice", "POST", "/event/store", `{"event_type":"visibility_marker","data":1}`, 200)
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

func queryAll(t *testing.T, url, tok, params string) []store.Event {
	t.Helper()
	r := call(t, "GET", url+"/event/query?limit=1000"+params, tok, "")
	if r.code != 200 {
		t.Fatalf("query %s: %d %s", params, r.code, r.raw)
	}
	var b api.EventQueryResponse
	if err := json.Unmarshal([]byte(r.raw), &b); err != nil {
		t.Fatal(err)
	}
	return b.Events
}

// streamAll reads /event/stream from the start until the marker event.
func streamAll(t *testing.T, url, tok string) []store.Event {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/event/stream?since=0", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	var out []store.Event
	done := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
	defer done.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 2<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e store.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("stream data %q: %v", data, err)
		}
		out = append(out, e)
		if e.Type == "visibility_marker" {
			return out
		}
	}
	t.Fatalf("stream ended before the marker after %d events", len(out))
	return nil
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

	all := queryAll(t, r.url, ag["root"], "")
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
			if got := seqsOf(queryAll(t, url, ag[reader], "")); !slices.Equal(got, seqsOf(want)) {
				t.Errorf("%s: query as %s gave %v, want %v", phase, reader, got, seqsOf(want))
			}
			// Each index (type, aggregate, agent) gives the same answer.
			for _, e := range all {
				for _, p := range []string{"&event_type=" + e.Type, "&aggregate_id=" + e.AggregateID, "&agent_id=" + e.AgentID} {
					if strings.HasSuffix(p, "=") {
						continue
					}
					for _, got := range queryAll(t, url, ag[reader], p) {
						if !mayRead(got, reader) {
							t.Errorf("%s: query%s as %s gave %s %d", phase, p, reader, got.Type, got.Sequence)
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
