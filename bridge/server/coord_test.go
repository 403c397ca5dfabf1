package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/config"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// startClocked starts a Bridge on cfg whose every clock is c.
func startClocked(t *testing.T, cfg config.Config, c *fakeClock, escalation time.Duration) *running {
	t.Helper()
	b, err := New(cfg, Options{GracePeriod: 5 * time.Second, Now: c.now, EscalationTimeout: escalation,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, url: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() { r.shutdown(t) })
	return r
}

type reply struct {
	code   int
	body   map[string]any
	header http.Header
	raw    string
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func call(t *testing.T, method, url, token, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, header: resp.Header, raw: string(b)}
	json.Unmarshal(b, &r.body)
	return r
}

// agents holds each agent's token; sessions live in the store, so they
// stay valid across a restart.
type agents map[string]string

func (a agents) do(t *testing.T, base, who, method, path, body string, want int) reply {
	t.Helper()
	r := call(t, method, base+path, a[who], body)
	if r.code != want {
		t.Fatalf("%s %s %s as %s: %d %s, want %d", method, path, body, who, r.code, r.raw, want)
	}
	return r
}

// waitFor polls fn until it reports true: other goroutines make the
// progress, the loop only looks, and gives up after a bound.
func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestCoordinationScenarioAcrossRestart runs a builder and two experts
// over real HTTP, restarting the Bridge in the middle.
func TestCoordinationScenarioAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	r := startClocked(t, cfg, clk, 10*time.Second)
	ag := agents{}
	for _, a := range []string{"builder", "sec", "perf"} {
		ag[a] = session(t, r.url, a)
	}
	ctx := context.Background()
	// as is agent who's client of the running bridge (its token alone:
	// sessions live in the store, so they survive the restarts).
	as := func(who string) *client.Client { return tokenClient(t, r.url, ag[who]) }
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	busy := func(l api.ExpertListResponse) bool {
		for _, x := range l.Experts {
			if x.Status == "busy" {
				return true
			}
		}
		return false
	}

	// Experts register; the list shows them available.
	_, err := as("sec").RegisterExpert(ctx, api.RegisterRequest{Capabilities: []string{"security", "command_validation"}})
	must("register sec", err)
	_, err = as("perf").RegisterExpert(ctx, api.RegisterRequest{Capabilities: []string{"performance"}})
	must("register perf", err)
	list, err := as("builder").Experts(ctx)
	if err != nil || list.Count != 2 {
		t.Fatalf("experts: %+v %v", list, err)
	}

	// The builder delegates by capability and by name, asks a question,
	// dispatches a task and starts a collaboration.
	d1, err := as("builder").Delegate(ctx, api.DelegateRequest{ToolName: "Write", ToolInput: json.RawMessage(`{"file_path":"main.go"}`), Capabilities: []string{"performance"}})
	if err != nil || d1.TargetExpert != "perf" || d1.Status != "delegated" || d1.DelegationID == "" {
		t.Fatalf("delegate by capability: %+v %v", d1, err)
	}
	d2, err := as("builder").Delegate(ctx, api.DelegateRequest{ToolName: "Edit", ToolInput: json.RawMessage(`{"file_path":"auth.go"}`), TargetExpert: "sec"})
	if err != nil || d2.TargetExpert != "sec" {
		t.Fatalf("delegate by name: %+v %v", d2, err)
	}
	timeout := 600.0
	q, err := as("builder").CreateElicitation(ctx, api.ElicitRequest{ToAgent: "sec", Message: "Which TLS version?",
		Schema: json.RawMessage(`{"type":"object","required":["tls"],"properties":{"tls":{"enum":["1.2","1.3"]}}}`), TimeoutSeconds: &timeout})
	must("elicit", err)
	qid := q.ElicitationID
	task, err := as("builder").DispatchTask(ctx, api.TaskRequest{TargetAgent: "perf", Description: "profile the build", Data: json.RawMessage(`{"target":"ci"}`)})
	must("dispatch", err)
	col, err := as("builder").StartCollaboration(ctx, api.CollaborationRequest{Participants: []string{"sec", "perf"}, Topic: "release 1.0"})
	must("collaborate", err)
	if list, err := as("builder").Experts(ctx); err != nil || !busy(list) {
		t.Fatalf("experts with pending work are busy: %+v %v", list, err)
	}

	fams, err := as("builder").Metrics(ctx)
	must("metrics", err)
	for name, want := range map[string]float64{"lighthouse_delegations_pending": 2, "lighthouse_elicitations_open": 1, "lighthouse_tasks_pending": 1, "lighthouse_experts_available": 2} {
		if m := fams[name].GetMetric(); len(m) != 1 || m[0].GetGauge().GetValue() != want {
			t.Fatalf("/metrics %s = %v, want %v", name, m, want)
		}
	}

	// Restart: everything above must survive.
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	r = startClocked(t, cfg, clk, 10*time.Second)

	work, err := as("perf").Delegations(ctx)
	if err != nil || work.Count != 1 || work.Delegations[0].ID != d1.DelegationID || !strings.Contains(string(work.Delegations[0].ToolInput), `"main.go"`) {
		t.Fatalf("perf's pending work after restart: %+v %v", work, err)
	}
	_, err = as("perf").CompleteDelegation(ctx, d1.DelegationID, api.CompleteRequest{Result: json.RawMessage(`{"verdict":"fine","allocs":0}`)})
	must("complete", err)
	got, err := as("builder").Delegation(ctx, d1.DelegationID)
	if err != nil || got.Status != "completed" || !strings.Contains(string(got.Result), `"verdict":"fine"`) {
		t.Fatalf("builder reads the result: %+v %v", got, err)
	}
	_, err = as("sec").CompleteDelegation(ctx, d2.DelegationID, api.CompleteRequest{Result: json.RawMessage(`"looks safe"`)})
	must("complete", err)
	if list, err := as("builder").Experts(ctx); err != nil || busy(list) {
		t.Fatalf("experts stay busy after completing: %+v %v", list, err)
	}

	pend, err := as("sec").PendingElicitations(ctx)
	if err != nil || pend.Count != 1 || pend.Elicitations[0].Message != "Which TLS version?" {
		t.Fatalf("sec's questions after restart: %+v %v", pend, err)
	}
	var e *client.Error
	_, err = as("sec").RespondElicitation(ctx, api.RespondRequest{ElicitationID: qid, ResponseType: "accept", Data: json.RawMessage(`{"tls":"1.1"}`)})
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("an answer outside its schema: %v", err)
	}
	_, err = as("sec").RespondElicitation(ctx, api.RespondRequest{ElicitationID: qid, ResponseType: "accept", Data: json.RawMessage(`{"tls":"1.3"}`)})
	must("respond", err)
	st, err := as("builder").ElicitationStatus(ctx, qid)
	if err != nil || st.Status != "accepted" || string(st.Data) != `{"tls":"1.3"}` {
		t.Fatalf("the asker sees the answer: %+v %v", st, err)
	}

	// Escalation: a command no rule decides goes to sec, who answers.
	type validated struct {
		v   api.ValidateResponse
		err error
	}
	vc := make(chan validated, 1)
	go func() {
		v, err := as("builder").Validate(ctx, api.ValidateRequest{ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"make release"}`)})
		vc <- validated{v, err}
	}()
	var vid string
	waitFor(t, "the validation delegation", func() bool {
		select {
		case v := <-vc:
			t.Fatalf("validate returned before the expert answered: %+v %v", v.v, v.err)
		default:
		}
		w, err := as("sec").Delegations(ctx)
		must("delegations", err)
		for _, d := range w.Delegations {
			if d.Kind == "validation" {
				vid = d.ID
			}
		}
		return vid != ""
	})
	_, err = as("sec").CompleteDelegation(ctx, vid, api.CompleteRequest{Result: json.RawMessage(`{"decision":"approved","reasoning":"release target only packages","confidence":0.85}`)})
	must("answer the escalation", err)
	v := <-vc
	if v.err != nil || !v.v.Approved || v.v.Decision != "approved" || v.v.Reasoning != "release target only packages" || v.v.Confidence != 0.85 {
		t.Fatalf("validate after escalation: %+v %v", v.v, v.err)
	}
	if md := v.v.Metadata; !md.ExpertRequired || md.Rule != "expert" {
		t.Fatalf("metadata: %+v", md)
	}
	ev, err := as("builder").QueryEvents(ctx, api.EventQuery{EventType: api.EventValidationDecision})
	must("query", err)
	var named bool
	for _, e := range ev.Events {
		var d api.ValidationDecisionData
		json.Unmarshal(e.Data, &d)
		named = named || d.Expert == "sec"
	}
	if !named {
		t.Fatalf("the decision event names the expert: %+v", ev.Events)
	}

	// Task and collaboration end.
	_, err = as("perf").CompleteTask(ctx, task.TaskID, api.CompleteRequest{Result: json.RawMessage(`{"p99_ms":12}`)})
	must("complete task", err)
	if tk, err := as("builder").Task(ctx, task.TaskID); err != nil || tk.Status != "completed" {
		t.Fatalf("task: %+v %v", tk, err)
	}
	_, err = as("perf").EndCollaboration(ctx, col.ID, api.EndRequest{Summary: "shipped"})
	must("end", err)
	if c, err := as("sec").Collaboration(ctx, col.ID); err != nil || c.Status != "ended" || c.EndedBy != "perf" {
		t.Fatalf("collaboration: %+v %v", c, err)
	}

	// A second restart gives back the finished state.
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	r = startClocked(t, cfg, clk, 10*time.Second)
	if got, err := as("builder").Delegation(ctx, vid); err != nil || got.Status != "completed" || got.Kind != "validation" {
		t.Fatalf("after the second restart: %+v %v", got, err)
	}
	if st, err := as("builder").ElicitationStatus(ctx, qid); err != nil || st.Status != "accepted" {
		t.Fatalf("after the second restart: %+v %v", st, err)
	}
	if w, err := as("sec").Delegations(ctx); err != nil || w.Count != 0 {
		t.Fatalf("no work left: %+v %v", w, err)
	}
}

// TestEscalationTimeoutGivesSafeDefault: an expert that never answers
// leaves /validate with the safe default after the bounded wait, and its
// late answer is refused.
func TestEscalationTimeoutGivesSafeDefault(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	r := startClocked(t, testConfig(t.TempDir()), clk, 100*time.Millisecond)
	ag := agents{"builder": session(t, r.url, "builder"), "sec": session(t, r.url, "sec")}
	ag.do(t, r.url, "sec", "POST", "/expert/register", `{"capabilities":["security"]}`, 200)
	v := ag.do(t, r.url, "builder", "POST", "/validate", `{"tool_name":"Write","tool_input":{"file_path":"src/a.go"}}`, 200)
	if v.str("decision") != "blocked" || !strings.Contains(v.str("reasoning"), "no security expert answered within 100ms") {
		t.Fatalf("timeout: %s", v.raw)
	}
	w := ag.do(t, r.url, "sec", "GET", "/expert/delegations", "", 200)
	if w.body["count"] != 0.0 {
		t.Fatalf("expired work still pending: %s", w.raw)
	}
	ev := ag.do(t, r.url, "builder", "GET", "/event/query?event_type=delegation_expired", "", 200)
	var b struct {
		Events []struct {
			AggregateID string `json:"aggregate_id"`
		}
	}
	json.Unmarshal([]byte(ev.raw), &b)
	if len(b.Events) != 1 {
		t.Fatalf("expiry events: %s", ev.raw)
	}
	ag.do(t, r.url, "sec", "POST", "/expert/delegations/"+b.Events[0].AggregateID+"/complete", `{"result":{"decision":"approved","reasoning":"late"}}`, 409)

	// An idle expert is not asked at all: the safe default comes at once.
	clk.add(5 * time.Minute)
	v = ag.do(t, r.url, "builder", "POST", "/validate", `{"tool_name":"Bash","tool_input":{"command":"make"}}`, 200)
	if !strings.Contains(v.str("reasoning"), "no security expert is available") {
		t.Fatalf("idle expert: %s", v.raw)
	}
}

func TestElicitationRateLimitAndExpiryOverHTTP(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	r := startClocked(t, testConfig(t.TempDir()), clk, time.Second)
	ag := agents{"a": session(t, r.url, "a"), "b": session(t, r.url, "b")}
	for i := 0; i < 10; i++ {
		ag.do(t, r.url, "a", "POST", "/elicitation/create", `{"to_agent":"b","message":"q","timeout_seconds":30}`, 200)
	}
	lim := ag.do(t, r.url, "a", "POST", "/elicitation/create", `{"to_agent":"b","message":"q"}`, 429)
	if lim.header.Get("Retry-After") != "60" || lim.str("error") != "too_many_requests" {
		t.Fatalf("429: %v %s", lim.header, lim.raw)
	}
	clk.add(30 * time.Second)
	if ra := ag.do(t, r.url, "a", "POST", "/elicitation/create", `{"to_agent":"b","message":"q"}`, 429); ra.header.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After after 30s: %v", ra.header)
	}
	// The ten questions expired with their 30 s timeout.
	if p := ag.do(t, r.url, "b", "GET", "/elicitation/pending", "", 200); p.body["count"] != 0.0 {
		t.Fatalf("expired questions still pending: %s", p.raw)
	}
	ev := ag.do(t, r.url, "a", "GET", "/event/query?event_type=elicitation_created&limit=1", "", 200)
	var b struct {
		Events []struct {
			AggregateID string `json:"aggregate_id"`
		}
	}
	json.Unmarshal([]byte(ev.raw), &b)
	id := b.Events[0].AggregateID
	ag.do(t, r.url, "b", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"decline"}`, id), 410)
	if s := ag.do(t, r.url, "a", "GET", "/elicitation/status/"+id, "", 200); s.str("status") != "expired" {
		t.Fatalf("status: %s", s.raw)
	}
	clk.add(30 * time.Second)
	ag.do(t, r.url, "a", "POST", "/elicitation/create", `{"to_agent":"b","message":"q"}`, 200)
}

// TestCoordinationAuthorisation: every coordination route refuses a
// missing token, a body naming another agent, and every agent whose role
// does not fit.
func TestCoordinationAuthorisation(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	r := startClocked(t, testConfig(t.TempDir()), clk, time.Second)
	ag := agents{}
	for _, a := range []string{"builder", "sec", "mallory"} {
		ag[a] = session(t, r.url, a)
	}
	ag.do(t, r.url, "sec", "POST", "/expert/register", `{"capabilities":["security"]}`, 200)
	del := ag.do(t, r.url, "builder", "POST", "/expert/delegate", `{"tool_name":"Write","target_expert":"sec"}`, 200).str("delegation_id")
	task := ag.do(t, r.url, "builder", "POST", "/task/dispatch", `{"target_agent":"sec","description":"x"}`, 200).str("task_id")
	col := ag.do(t, r.url, "builder", "POST", "/collaboration/start", `{"participants":["sec"],"topic":"x"}`, 200).str("collaboration_id")
	el := ag.do(t, r.url, "builder", "POST", "/elicitation/create", `{"to_agent":"sec","message":"?"}`, 200).str("elicitation_id")

	routes := []struct{ method, path, body string }{
		{"POST", "/expert/register", `{"capabilities":["security"]}`},
		{"POST", "/expert/heartbeat", `{}`},
		{"GET", "/expert/list", ""},
		{"POST", "/expert/delegate", `{"tool_name":"Write","target_expert":"sec"}`},
		{"GET", "/expert/delegations", ""},
		{"GET", "/expert/delegations/" + del, ""},
		{"POST", "/expert/delegations/" + del + "/complete", `{"result":1}`},
		{"POST", "/task/dispatch", `{"target_agent":"sec","description":"x"}`},
		{"GET", "/task/pending", ""},
		{"GET", "/task/" + task, ""},
		{"POST", "/task/" + task + "/complete", `{}`},
		{"POST", "/collaboration/start", `{"participants":["sec"],"topic":"x"}`},
		{"GET", "/collaboration/" + col, ""},
		{"POST", "/collaboration/" + col + "/end", `{}`},
		{"POST", "/elicitation/create", `{"to_agent":"sec","message":"?"}`},
		{"GET", "/elicitation/pending", ""},
		{"POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"decline"}`, el)},
		{"GET", "/elicitation/status/" + el, ""},
	}
	for _, rt := range routes {
		t.Run("no token "+rt.method+" "+rt.path, func(t *testing.T) {
			if got := call(t, rt.method, r.url+rt.path, "", rt.body); got.code != 401 {
				t.Fatalf("%d %s", got.code, got.raw)
			}
			if got := call(t, rt.method, r.url+rt.path, "not-a-token", rt.body); got.code != 401 {
				t.Fatalf("bad token: %d %s", got.code, got.raw)
			}
		})
		if rt.method != "POST" {
			continue
		}
		t.Run("other identity "+rt.path, func(t *testing.T) {
			body := strings.Replace(rt.body, "{", `{"agent_id":"builder",`, 1)
			body = strings.Replace(body, ",}", "}", 1)
			if got := call(t, rt.method, r.url+rt.path, ag["mallory"], body); got.code != 403 || !strings.Contains(got.raw, "may not act as") {
				t.Fatalf("%s: %d %s", body, got.code, got.raw)
			}
		})
	}

	roles := []struct {
		name, who, method, path, body string
	}{
		{"non-expert fetching work", "mallory", "GET", "/expert/delegations", ""},
		{"non-expert heartbeat", "builder", "POST", "/expert/heartbeat", ""},
		{"stranger reading a delegation", "mallory", "GET", "/expert/delegations/" + del, ""},
		{"requester completing", "builder", "POST", "/expert/delegations/" + del + "/complete", `{"result":1}`},
		{"stranger completing", "mallory", "POST", "/expert/delegations/" + del + "/complete", `{"result":1}`},
		{"stranger reading a task", "mallory", "GET", "/task/" + task, ""},
		{"dispatcher completing a task", "builder", "POST", "/task/" + task + "/complete", `{}`},
		{"non-participant reading", "mallory", "GET", "/collaboration/" + col, ""},
		{"non-participant ending", "mallory", "POST", "/collaboration/" + col + "/end", `{}`},
		{"asker answering", "builder", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"accept","data":{}}`, el)},
		{"non-addressee answering", "mallory", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"decline"}`, el)},
		{"addressee cancelling", "sec", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"cancel"}`, el)},
		{"non-asker cancelling", "mallory", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"cancel"}`, el)},
		{"stranger reading a question", "mallory", "GET", "/elicitation/status/" + el, ""},
		{"from_agent naming another", "mallory", "POST", "/elicitation/create", `{"from_agent":"builder","to_agent":"sec","message":"?"}`},
		{"forging a completion through /event/store", "sec", "POST", "/event/store",
			fmt.Sprintf(`{"event_type":"delegation_completed","data":{"delegation_id":%q,"result":1}}`, del)},
		{"forging a registration through /event/store", "mallory", "POST", "/event/store", `{"event_type":"expert_registered","data":{"capabilities":["security"]}}`},
	}
	for _, c := range roles {
		t.Run(c.name, func(t *testing.T) {
			if got := call(t, c.method, r.url+c.path, ag[c.who], c.body); got.code != 403 {
				t.Fatalf("%d %s", got.code, got.raw)
			}
		})
	}
	// Nothing the refusals touched changed.
	if d := ag.do(t, r.url, "builder", "GET", "/expert/delegations/"+del, "", 200); d.str("status") != "pending" {
		t.Fatalf("delegation: %s", d.raw)
	}
	if e := ag.do(t, r.url, "builder", "GET", "/elicitation/status/"+el, "", 200); e.str("status") != "pending" {
		t.Fatalf("elicitation: %s", e.raw)
	}
	if list := ag.do(t, r.url, "builder", "GET", "/expert/list", "", 200); list.body["count"] != 1.0 {
		t.Fatalf("experts: %s", list.raw)
	}
	// And the rightful agents succeed.
	ag.do(t, r.url, "sec", "POST", "/expert/delegations/"+del+"/complete", `{"result":1}`, 200)
	ag.do(t, r.url, "builder", "POST", "/elicitation/respond", fmt.Sprintf(`{"elicitation_id":%q,"response_type":"cancel"}`, el), 200)
}

func TestCoordinationBadInput(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	r := startClocked(t, testConfig(t.TempDir()), clk, time.Second)
	ag := agents{"a": session(t, r.url, "a"), "sec": session(t, r.url, "sec")}
	ag.do(t, r.url, "sec", "POST", "/expert/register", `{"capabilities":["security"]}`, 200)
	cases := []struct {
		who, method, path, body string
		want                    int
	}{
		{"a", "POST", "/expert/register", ``, 400},
		{"a", "POST", "/expert/register", `{"capabilities":[]}`, 400},
		{"a", "POST", "/expert/register", `{"capabilities":["Security Team"]}`, 400},
		{"a", "POST", "/expert/register", `{"capabilities":"security"}`, 400},
		{"a", "POST", "/expert/register", `{"capabilities":["x"],"admin":true}`, 400},
		{"a", "POST", "/expert/delegate", `{"tool_name":"Write"}`, 400},
		{"a", "POST", "/expert/delegate", `{"tool_name":"Write","target_expert":"sec","capabilities":["security"]}`, 400},
		{"a", "POST", "/expert/delegate", `{"target_expert":"sec"}`, 400},
		{"a", "POST", "/expert/delegate", `{"tool_name":"Write","target_expert":"nobody"}`, 404},
		{"a", "POST", "/expert/delegate", `{"tool_name":"Write","capabilities":["architecture"]}`, 409},
		{"sec", "GET", "/expert/delegations/unknown", ``, 404},
		{"sec", "POST", "/expert/delegations/unknown/complete", `{"result":1}`, 404},
		{"a", "POST", "/task/dispatch", `{"description":""}`, 400},
		{"a", "POST", "/collaboration/start", `{"participants":[],"topic":"x"}`, 400},
		{"a", "POST", "/collaboration/nope/end", ``, 404},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"?","timeout_seconds":0}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"?","timeout_seconds":"soon"}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"?","schema":{"type":7}}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"a","message":"?"}`, 400},
		// A schema must be a JSON object or boolean; other JSON values used to panic (500).
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"x","schema":"notaschema"}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"x","schema":5}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"x","schema":[]}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"x","schema":{"properties":"x"}}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"x","schema":{"$ref":"#/nowhere"}}`, 400},
		{"a", "POST", "/elicitation/create", `{"to_agent":"sec","message":"x","schema":{"$ref":"https://example.com/s.json"}}`, 400},
		// An expert naming itself, as routing by capabilities already refuses.
		{"sec", "POST", "/expert/delegate", `{"tool_name":"Write","target_expert":"sec"}`, 409},
		{"a", "POST", "/elicitation/respond", `{"elicitation_id":"x","response_type":"accept"}`, 404},
		{"a", "POST", "/elicitation/respond", `{"elicitation_id":"x","response_type":"ok"}`, 400},
		{"a", "GET", "/elicitation/status/x", ``, 404},
		{"a", "POST", "/expert/register", `{"capabilities":["x"]}` + strings.Repeat(" ", 1<<20), 413},
	}
	for _, c := range cases {
		got := call(t, c.method, r.url+c.path, ag[c.who], c.body)
		if got.code != c.want || got.str("detail") == "" {
			t.Errorf("%s %s %.80s: %d %s, want %d with a detail", c.method, c.path, c.body, got.code, got.raw, c.want)
		}
	}
	// The heartbeat's body is optional.
	ag.do(t, r.url, "sec", "POST", "/expert/heartbeat", ``, 200)
}

// TestShutdownEndsEscalationWaits: a /validate waiting for an expert gets
// the safe default as soon as shutdown begins, well inside the grace
// period, instead of holding the shutdown for its 30 s escalation timeout.
func TestShutdownEndsEscalationWaits(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	r := startClocked(t, testConfig(t.TempDir()), clk, 30*time.Second)
	ag := agents{"builder": session(t, r.url, "builder"), "sec": session(t, r.url, "sec")}
	ag.do(t, r.url, "sec", "POST", "/expert/register", `{"capabilities":["security"]}`, 200)
	vc := make(chan reply, 1)
	go func() {
		vc <- call(t, "POST", r.url+"/validate", ag["builder"], `{"tool_name":"Bash","tool_input":{"command":"make install"}}`)
	}()
	waitFor(t, "the escalation", func() bool {
		return call(t, "GET", r.url+"/expert/delegations", ag["sec"], "").body["count"] == 1.0
	})
	start := time.Now()
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	v := <-vc
	if v.code != 200 || v.str("decision") != "blocked" || !strings.Contains(v.str("reasoning"), "shutting down") {
		t.Fatalf("validate during shutdown: %d %s", v.code, v.raw)
	}
}
