package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
	"github.com/lighthouse-project/lighthouse/bridge/validate"
)

var testSecret = []byte("test-secret-test-secret-test-secret!")

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t     *testing.T
	srv   *Server
	url   string
	store *store.Store
	clock *clock
	val   *validate.Validator
}

func newEnv(t *testing.T) *env { return newEnvWith(t, Limits{}) }

func newEnvWith(t *testing.T, lim Limits) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMetrics()
	st, err := store.Open(t.TempDir(), store.Options{Now: c.now, OnCommit: m.ObserveCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ss := auth.NewSessions()
	if err := st.Attach(0, ss); err != nil {
		t.Fatal(err)
	}
	val := validate.New(validate.Options{})
	am := auth.NewManager(testSecret, ss, st, c.now)
	am.RefreshEvery = 24 * time.Hour // keep refresh events out of the expected sequences
	srv := New(Options{Store: st, Auth: am, Validator: val, Metrics: m, Now: c.now, Heartbeat: 50 * time.Millisecond, Limits: lim})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(srv.BeginShutdown)
	return &env{t: t, srv: srv, url: hs.URL, store: st, clock: c, val: val}
}

// session creates a session for agent and returns its token.
func (e *env) session(agent string, admin bool) string {
	e.t.Helper()
	key, err := auth.AgentKey(testSecret, agent, admin)
	if err != nil {
		e.t.Fatal(err)
	}
	code, body := e.do("POST", "/session/create", "", fmt.Sprintf(`{"agent_id":%q,"agent_key":%q}`, agent, key))
	if code != 200 {
		e.t.Fatalf("session/create: %d %s", code, body)
	}
	var s struct {
		Token string `json:"session_token"`
	}
	json.Unmarshal(body, &s)
	return s.Token
}

func (e *env) do(method, path, token, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/health", "/health/live"} {
		code, body := e.do("GET", p, "", "")
		if code != 200 || strings.TrimSpace(string(body)) != `{"service":"lighthouse-bridge","status":"healthy"}` {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
}

func TestStatusReportsTrueValues(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false)
	e.session("bob", false)
	e.do("POST", "/event/store", tok, `{"event_type":"x","data":1}`)
	for _, p := range []string{"/status", "/health/ready"} {
		code, body := e.do("GET", p, "", "")
		st := decode[StatusResponse](t, body)
		if code != 200 || st.Status != "ready" || st.Components["event_store"] != "ok" || st.ActiveAgents != 2 || st.LastSequence != 3 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	e.clock.add(2 * time.Minute)
	_, body := e.do("GET", "/status", "", "")
	if st := decode[StatusResponse](t, body); st.UptimeSeconds != 120 {
		t.Fatalf("uptime %v, want 120", st.UptimeSeconds)
	}
	// An optional component failing keeps the service ready; a required one does not.
	e.srv.SetComponent("snapshots", false, func(context.Context) error { return errors.New("disk full") })
	e.srv.SetComponent("fuse_mount", false, func(context.Context) error { return ErrDisabled })
	code, body := e.do("GET", "/status", "", "")
	st := decode[StatusResponse](t, body)
	if code != 200 || st.Components["snapshots"] != "error: disk full" || st.Components["fuse_mount"] != "disabled" {
		t.Fatalf("optional component: %d %s", code, body)
	}
	e.srv.SetComponent("fuse_mount", true, func(context.Context) error { return errors.New("not mounted") })
	if code, body := e.do("GET", "/status", "", ""); code != 503 || decode[StatusResponse](t, body).Status != "not_ready" {
		t.Fatalf("required component failing: %d %s", code, body)
	}
	e.srv.SetComponent("fuse_mount", true, func(context.Context) error { return nil })
	e.store.Close()
	code, body = e.do("GET", "/status", "", "")
	if st := decode[StatusResponse](t, body); code != 503 || !strings.HasPrefix(st.Components["event_store"], "error:") {
		t.Fatalf("closed store: %d %s", code, body)
	}
	if code, _ := e.do("GET", "/health", "", ""); code != 200 {
		t.Fatal("liveness depends on the store")
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false)
	e.do("POST", "/event/store", tok, `{"event_type":"x","data":1}`)
	e.do("GET", "/nowhere", "", "")
	code, body := e.do("GET", "/metrics", "", "")
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{
		`lighthouse_http_requests_total{code="200",method="POST",route="POST /event/store"} 1`,
		`lighthouse_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`lighthouse_events_total 2`,
		`lighthouse_event_store_last_sequence 2`,
		`lighthouse_sessions_active 1`,
		`lighthouse_event_append_duration_seconds_count 1`,
		`lighthouse_event_store_size_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestMetricsLabelsAreBounded: unauthenticated requests with made-up
// methods or paths cannot add series to /metrics: unknown methods count
// as "other", paths no route serves as "unmatched".
func TestMetricsLabelsAreBounded(t *testing.T) {
	e := newEnv(t)
	for i := range 40 {
		e.do(fmt.Sprintf("M%d", 10000+i), "/health", "", "")
		e.do("GET", fmt.Sprintf("/nowhere/%d", i), "", "")
	}
	e.do("get", "/status", "", "")
	e.do("GET", "/health", "", "")
	mfs, err := e.srv.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "lighthouse_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			series[l["method"]+" "+l["route"]+" "+l["code"]] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"other unmatched 405": 41, // M10000 … M10039 /health, and "get" (not GET) /status
		"GET unmatched 404":   40, // /nowhere/0 … /nowhere/39
		"GET GET /health 200": 1,
	}
	if diff := cmp.Diff(want, series); diff != "" {
		t.Errorf("request series (-want +got):\n%s", diff)
	}
}

func TestSessionRoutes(t *testing.T) {
	e := newEnv(t)
	key, _ := auth.AgentKey(testSecret, "alice", false)
	code, body := e.do("POST", "/session/create", "", fmt.Sprintf(`{"agent_id":"alice","agent_key":%q}`, key))
	s := decode[auth.NewSession](t, body)
	if code != 200 || len(s.SessionID) != 32 || s.AgentID != "alice" || !s.ExpiresAt.Equal(e.clock.now().Add(time.Hour)) || !strings.HasPrefix(s.Token, s.SessionID+":alice:") {
		t.Fatalf("create: %d %s", code, body)
	}
	check := func(tok, agent string, want bool) {
		t.Helper()
		code, body := e.do("POST", "/session/validate", "", fmt.Sprintf(`{"session_token":%q,"agent_id":%q}`, tok, agent))
		if code != 200 || decode[map[string]bool](t, body)["valid"] != want {
			t.Fatalf("validate %s: %d %s", agent, code, body)
		}
	}
	check(s.Token, "alice", true)
	check(s.Token, "bob", false)
	check("garbage", "alice", false)
	e.clock.add(61 * time.Minute)
	check(s.Token, "alice", false)
}

func TestAuthTable(t *testing.T) {
	e := newEnv(t)
	alice := e.session("alice", false)
	admin := e.session("root", true)
	e.srv.Add(Part{Name: "test", Routes: []Route{{Method: "GET", Path: "/admin/ping", Access: Admin,
		Handler: func(w http.ResponseWriter, r *http.Request) {
			id, _ := Caller(r)
			WriteJSON(w, 200, map[string]string{"agent": id.AgentID})
		}}}})
	p, _ := auth.ParseToken(alice)
	forged := p
	forged.MAC = append([]byte(nil), p.MAC...)
	forged.MAC[0] ^= 1
	otherSecret := auth.MintToken([]byte("another-secret-another-secret-xxxx"), p.SessionID, "alice", p.Issued)
	asBob := auth.MintToken(testSecret, p.SessionID, "bob", p.Issued) // right MAC, wrong session owner
	aliceKey, _ := auth.AgentKey(testSecret, "alice", false)
	bobKey, _ := auth.AgentKey(testSecret, "bob", false)
	before := e.store.LastSequence()
	cases := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "POST", "/event/store", "", `{"event_type":"x","data":1}`, 401},
		{"malformed token", "POST", "/event/store", "not-a-token", `{"event_type":"x","data":1}`, 401},
		{"forged hmac", "POST", "/event/store", forged.String(), `{"event_type":"x","data":1}`, 401},
		{"token from another secret", "POST", "/event/store", otherSecret.String(), `{"event_type":"x","data":1}`, 401},
		{"session of another agent", "POST", "/event/store", asBob.String(), `{"event_type":"x","data":1}`, 401},
		{"query without token", "GET", "/event/query", "", "", 401},
		{"stream without token", "GET", "/event/stream", "", "", 401},
		{"validate without token", "POST", "/validate", "", `{"tool_name":"Read","tool_input":{}}`, 401},
		{"body names another agent", "POST", "/event/store", alice, `{"event_type":"x","agent_id":"bob","data":1}`, 403},
		{"validate as another agent", "POST", "/validate", alice, `{"tool_name":"Read","tool_input":{},"agent_id":"bob"}`, 403},
		{"legacy validate as another agent", "POST", "/validate", alice, `{"id":"1","tool":"Read","input":{},"agent":"bob"}`, 403},
		{"wrong agent key", "POST", "/session/create", "", fmt.Sprintf(`{"agent_id":"alice","agent_key":%q}`, bobKey), 401},
		{"key of another agent's id", "POST", "/session/create", "", fmt.Sprintf(`{"agent_id":"bob","agent_key":%q}`, aliceKey), 401},
		{"non-admin on admin route", "GET", "/admin/ping", alice, "", 403},
		{"admin on admin route", "GET", "/admin/ping", admin, "", 200},
		{"own identity", "POST", "/event/store", alice, `{"event_type":"x","agent_id":"alice","data":1}`, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.method, tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Fatalf("%d %s, want %d", code, body, tc.want)
			}
			if code >= 400 {
				if b := decode[ErrorResponse](t, body); b.Detail == "" || b.Status != code {
					t.Fatalf("error body %s", body)
				}
			}
		})
	}
	if got := e.store.LastSequence(); got != before+1 {
		t.Fatalf("rejected requests stored events: last %d, want %d", got, before+1)
	}
	// Expiry: an hour idle ends the session.
	e.clock.add(61 * time.Minute)
	if code, body := e.do("POST", "/event/store", alice, `{"event_type":"x","data":1}`); code != 401 || !strings.Contains(string(body), "expired") {
		t.Fatalf("expired: %d %s", code, body)
	}
}

func TestBadInputTable(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false)
	big := `{"event_type":"x","data":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	before := e.store.LastSequence()
	cases := []struct {
		name, method, path, body string
		want                     int
		detail                   string
	}{
		{"malformed json", "POST", "/event/store", `{"event_type":`, 400, "body ends early"},
		{"syntax error", "POST", "/event/store", `{"event_type" "x"}`, 400, "malformed JSON"},
		{"empty body", "POST", "/event/store", ``, 400, "empty"},
		{"array body", "POST", "/event/store", `[1,2]`, 400, "JSON object"},
		{"wrong type", "POST", "/event/store", `{"event_type":5,"data":1}`, 400, "event_type must be a string"},
		{"wrong type aggregate", "POST", "/event/store", `{"event_type":"x","aggregate_id":{},"data":1}`, 400, "aggregate_id must be a string"},
		{"unknown field", "POST", "/event/store", `{"event_type":"x","data":1,"colour":"red"}`, 400, `unknown field "colour"`},
		{"trailing data", "POST", "/event/store", `{"event_type":"x","data":1} {}`, 400, "after the JSON object"},
		{"missing type", "POST", "/event/store", `{"data":1}`, 400, "event_type is required"},
		{"not snake case", "POST", "/event/store", `{"event_type":"FileModified","data":1}`, 400, "snake_case"},
		{"missing data", "POST", "/event/store", `{"event_type":"x"}`, 400, "data is required"},
		{"null data", "POST", "/event/store", `{"event_type":"x","data":null}`, 400, "data is required"},
		{"metadata not object", "POST", "/event/store", `{"event_type":"x","data":1,"metadata":[1]}`, 400, "metadata must be a JSON object"},
		{"oversize", "POST", "/event/store", big, 413, "larger than"},
		{"validate oversize", "POST", "/validate", `{"tool_name":"Bash","tool_input":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, "larger than"},
		{"validate neither shape", "POST", "/validate", `{"command":"ls"}`, 400, "expected"},
		{"validate wrong type", "POST", "/validate", `{"tool_name":["Bash"]}`, 400, "tool_name must be a string"},
		{"validate empty tool", "POST", "/validate", `{"tool_name":""}`, 400, "tool_name must not be empty"},
		{"validate unknown field", "POST", "/validate", `{"tool_name":"Read","x":1}`, 400, "unknown field"},
		{"session wrong type", "POST", "/session/create", `{"agent_id":1,"agent_key":"x"}`, 400, "agent_id must be a string"},
		{"session missing key", "POST", "/session/create", `{"agent_id":"alice"}`, 400, "required"},
		{"session bad agent id", "POST", "/session/create", `{"agent_id":"a:b","agent_key":"00"}`, 400, "agent id must be"},
		{"session validate missing", "POST", "/session/validate", `{}`, 400, "required"},
		{"query bad since", "GET", "/event/query?since=-1", "", 400, "since must be"},
		{"query bad limit", "GET", "/event/query?limit=0", "", 400, "limit must be"},
		{"query bad limit text", "GET", "/event/query?limit=ten", "", 400, "limit must be"},
		{"query bad time", "GET", "/event/query?start_time=yesterday", "", 400, "start_time must be"},
		{"query reversed times", "GET", "/event/query?start_time=2026-01-02T00:00:00Z&end_time=2026-01-01T00:00:00Z", "", 400, "before start_time"},
		{"query unknown param", "GET", "/event/query?type=x", "", 400, "unknown query parameter"},
		{"stream bad since", "GET", "/event/stream?since=abc", "", 400, "since must be"},
		{"query over limit", "GET", "/event/query?limit=1001", "", 400, "limit must be 1..1000"},
		{"query repeated type", "GET", "/event/query?event_type=a&event_type=b", "", 400, `query parameter "event_type" is given 2 times`},
		{"query repeated limit", "GET", "/event/query?limit=1&limit=2", "", 400, `"limit" is given 2 times`},
		{"stream unknown param", "GET", "/event/stream?event_type=x", "", 400, `unknown query parameter "event_type"`},
		{"stream repeated since", "GET", "/event/stream?since=1&since=2", "", 400, `"since" is given 2 times`},
		{"unknown route", "GET", "/nope", "", 404, "no route"},
		{"unknown nested route", "POST", "/event/erase", "{}", 404, "no route"},
		{"wrong method", "DELETE", "/event/store", "", 405, "not allowed"},
		{"wrong method health", "POST", "/health", "", 405, "not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.method, tc.path, tok, tc.body)
			if code != tc.want {
				t.Fatalf("%d %s, want %d", code, body, tc.want)
			}
			b := decode[ErrorResponse](t, body)
			if b.Status != code || b.Error == "" || !strings.Contains(b.Detail, tc.detail) {
				t.Fatalf("error body %s, want detail containing %q", body, tc.detail)
			}
		})
	}
	if got := e.store.LastSequence(); got != before {
		t.Fatalf("bad input reached the store: last sequence %d, want %d", got, before)
	}
}

func TestEventStoreAndQuery(t *testing.T) {
	e := newEnv(t)
	alice := e.session("alice", false) // seq 1
	bob := e.session("bob", true)      // seq 2; an admin reads every event (TestVisibility)
	start := e.clock.now()
	post := func(tok, body string) map[string]any {
		t.Helper()
		code, b := e.do("POST", "/event/store", tok, body)
		if code != 200 {
			t.Fatalf("store: %d %s", code, b)
		}
		return decode[map[string]any](t, b)
	}
	r := post(alice, `{"event_type":"file_modified","aggregate_id":"a.go","aggregate_type":"file","data":{"size":3},"metadata":{"k":"v"}}`) // 3
	if r["status"] != "stored" || r["sequence"] != float64(3) || r["event_id"] == "" {
		t.Fatalf("answer %v", r)
	}
	e.clock.add(time.Minute)
	post(bob, `{"event_type":"some_new_type","data":"x"}`) // 4: unknown types are stored as given
	e.clock.add(time.Minute)
	post(alice, `{"event_type":"file_modified","aggregate_id":"b.go","data":[1]}`) // 5

	q := func(params string) []store.Event {
		t.Helper()
		code, b := e.do("GET", "/event/query?"+params, bob, "")
		if code != 200 {
			t.Fatalf("query %s: %d %s", params, code, b)
		}
		res := decode[struct {
			Events []store.Event `json:"events"`
			Count  int           `json:"count"`
		}](t, b)
		if res.Count != len(res.Events) {
			t.Fatalf("count %d for %d events", res.Count, len(res.Events))
		}
		return res.Events
	}
	seqs := func(evs []store.Event) string {
		var s []string
		for _, e := range evs {
			s = append(s, fmt.Sprint(e.Sequence))
		}
		return strings.Join(s, ",")
	}
	ts := func(d time.Duration) string { return url.QueryEscape(start.Add(d).Format(time.RFC3339)) }
	cases := map[string]string{
		"":                              "1,2,3,4,5",
		"event_type=file_modified":      "3,5",
		"event_type=some_new_type":      "4",
		"agent_id=alice":                "1,3,5",
		"aggregate_id=a.go":             "3",
		"since=3":                       "4,5",
		"start_time=" + ts(time.Minute): "4,5",
		"end_time=" + ts(time.Minute):   "1,2,3,4",
		"start_time=" + fmt.Sprint(start.Add(2*time.Minute).Unix()): "5",
		"limit=2": "1,2",
		"agent_id=alice&event_type=file_modified&since=3": "5",
	}
	for params, want := range cases {
		if got := seqs(q(params)); got != want {
			t.Errorf("query %q = %s, want %s", params, got, want)
		}
	}
	ev := q("aggregate_id=a.go")[0]
	if ev.AgentID != "alice" || ev.AggregateType != "file" || string(ev.Data) != `{"size":3}` || string(ev.Metadata) != `{"k":"v"}` || ev.Type != "file_modified" {
		t.Fatalf("stored event %+v", ev)
	}
	// Limits: default 100, at most 1000.
	batch := make([]store.Event, 1200)
	for i := range batch {
		batch[i] = store.Event{Type: "bulk", Data: json.RawMessage("1")}
	}
	if _, err := e.store.Append(context.Background(), batch...); err != nil {
		t.Fatal(err)
	}
	if n := len(q("event_type=bulk")); n != 100 {
		t.Errorf("default limit gave %d", n)
	}
	if n := len(q("event_type=bulk&limit=1000")); n != 1000 {
		t.Errorf("limit=1000 gave %d, want 1000", n)
	}
}

func TestEventStream(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false) // seq 1
	e.do("POST", "/event/store", tok, `{"event_type":"before","data":1}`)
	req, _ := http.NewRequest("GET", e.url+"/event/stream?since=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		e.do("POST", "/event/store", tok, `{"event_type":"after","data":2}`)
	}()
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for sc.Scan() && len(got) < 2 {
		line := sc.Text()
		if strings.HasPrefix(line, "data: ") {
			var ev store.Event
			if err := json.Unmarshal([]byte(line[6:]), &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d:%s", ev.Sequence, ev.Type))
		}
	}
	if strings.Join(got, " ") != "2:before 3:after" {
		t.Fatalf("streamed %v", got)
	}
	// Shutdown ends open streams.
	e.srv.BeginShutdown()
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after shutdown began")
	}
}

// openStream opens /event/stream?since=N with tok and returns a reader of
// its SSE messages (event name and data, comments skipped); the channel
// closes when the server ends the stream.
func (e *env) openStream(tok string, since uint64) <-chan [2]string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/event/stream?since=%d", e.url, since), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		e.t.Fatalf("stream: %d", resp.StatusCode)
	}
	out := make(chan [2]string, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				out <- [2]string{name, v}
			}
		}
	}()
	return out
}

// streamUntilEnd collects a stream's messages until the server ends it,
// failing if it is still open after the bound.
func streamUntilEnd(t *testing.T, msgs <-chan [2]string) [][2]string {
	t.Helper()
	var got [][2]string
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("stream still open, delivered %v", got)
		}
	}
}

// TestEventStreamEndsWithItsSession: the session token of an open stream
// is re-verified on every delivery and keep-alive; when a fourth session
// evicts it, the stream delivers nothing after the evicting event and ends
// with a session_ended event, as /event/query answers 401.
func TestEventStreamEndsWithItsSession(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false) // seq 1
	msgs := e.openStream(tok, 0)
	e.session("alice", false) // seq 2
	e.session("alice", false) // seq 3
	var seqs []uint64
	for len(seqs) < 3 { // delivered while the session lives
		select {
		case m := <-msgs:
			seqs = append(seqs, decode[store.Event](t, []byte(m[1])).Sequence)
		case <-time.After(5 * time.Second):
			t.Fatalf("stream delivered only %v", seqs)
		}
	}
	e.session("alice", false) // seq 4 evicts the stream's session
	if code, _ := e.do("GET", "/event/query", tok, ""); code != 401 {
		t.Fatalf("query with the evicted token: %d", code)
	}
	other := e.session("bob", false)
	e.do("POST", "/event/store", other, `{"event_type":"after_eviction","data":1}`)
	got := streamUntilEnd(t, msgs)
	if len(got) == 0 {
		t.Fatal("stream ended without a word")
	}
	for _, m := range got[:len(got)-1] {
		ev := decode[store.Event](t, []byte(m[1]))
		seqs = append(seqs, ev.Sequence)
	}
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Errorf("delivered sequences %v, want [1 2 3]: nothing from the eviction on", seqs)
	}
	last := got[len(got)-1]
	if last[0] != "session_ended" || !strings.Contains(last[1], auth.ErrUnknownSession.Error()) {
		t.Errorf("final message %v, want session_ended saying the session was evicted", last)
	}
}

// TestEventStreamEndsWhenItsSessionExpires: with no event to deliver, the
// keep-alive tick finds the expired session and ends the stream; the open
// stream did not keep the session alive.
func TestEventStreamEndsWhenItsSessionExpires(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false)
	msgs := e.openStream(tok, 1)
	e.clock.add(auth.SessionTTL + time.Second)
	got := streamUntilEnd(t, msgs)
	if len(got) != 1 || got[0][0] != "session_ended" || !strings.Contains(got[0][1], "expired") {
		t.Errorf("stream of an expired session delivered %v, want only session_ended (expired)", got)
	}
}

type expert struct{ d validate.Decision }

func (x expert) Escalate(context.Context, validate.Request, string) (validate.Decision, bool, error) {
	return x.d, true, nil
}

func TestValidate(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false)
	cases := []struct {
		body, decision, rule string
	}{
		{`{"tool_name":"Bash","tool_input":{"command":"git status"}}`, "approved", validate.RuleSafeShell},
		{`{"tool_name":"Bash","tool_input":{"command":"rm -rf /tmp/x"},"agent_id":"alice"}`, "blocked", validate.RuleDangerous},
		{`{"tool_name":"Write","tool_input":{"file_path":"/etc/hosts","content":""}}`, "blocked", validate.RuleSystemPath},
		{`{"tool_name":"Read","tool_input":{"file_path":"README.md"}}`, "approved", validate.RuleReadOnlyTool},
		{`{"tool_name":"Bash","tool_input":{"command":"make test"}}`, "blocked", validate.RuleSafeDefault},
		{`{"tool_name":"Edit","tool_input":{"file_path":"main.go"}}`, "blocked", validate.RuleSafeDefault},
	}
	for _, tc := range cases {
		code, body := e.do("POST", "/validate", tok, tc.body)
		r := decode[ValidateResponse](t, body)
		if code != 200 || r.Decision != tc.decision || r.Metadata.Rule != tc.rule || r.Approved != (r.Decision == "approved") || r.Reasoning == "" || r.Metadata.EventID == "" {
			t.Errorf("%s: %d %s", tc.body, code, body)
		}
		if tc.rule == validate.RuleSafeDefault && !r.Metadata.ExpertRequired {
			t.Errorf("%s: safe default without expert_required", tc.body)
		}
	}
	evs, _ := e.store.Query(store.Filter{Type: EventValidationDecision})
	if len(evs) != len(cases) {
		t.Fatalf("%d decisions recorded, want %d", len(evs), len(cases))
	}
	var d map[string]any
	json.Unmarshal(evs[1].Data, &d)
	if evs[1].AgentID != "alice" || d["decision"] != "blocked" || d["tool_name"] != "Bash" {
		t.Fatalf("recorded decision %s", evs[1].Data)
	}

	// The legacy hook contract.
	legacy := []struct{ body, status string }{
		{`{"id":"h1","tool":"Bash","input":{"command":"ls"},"agent":"alice"}`, "approved"},
		{`{"id":2,"tool":"Bash","input":{"command":"sudo rm x"}}`, "blocked"},
		{`{"tool":"Bash","input":"npm install"}`, "blocked"},
	}
	for _, tc := range legacy {
		code, body := e.do("POST", "/validate", tok, tc.body)
		r := decode[LegacyValidateResponse](t, body)
		if code != 200 || r.Status != tc.status || r.Reason == "" || (tc.status != "approved") != (r.Concern != "") {
			t.Errorf("legacy %s: %d %s", tc.body, code, body)
		}
	}

	// With an expert installed, escalations get its answer; an expert's
	// "escalate" maps to review_required on the legacy contract.
	e.val.SetEscalator(expert{validate.Decision{Decision: validate.Escalate, Reasoning: "needs a human", RiskLevel: validate.RiskMedium}})
	code, body := e.do("POST", "/validate", tok, `{"tool_name":"Bash","tool_input":{"command":"make test"}}`)
	r := decode[ValidateResponse](t, body)
	if code != 200 || r.Decision != "escalate" || r.Approved || r.Metadata.Rule != validate.RuleExpert {
		t.Fatalf("expert escalate: %d %s", code, body)
	}
	code, body = e.do("POST", "/validate", tok, `{"tool":"Bash","input":{"command":"make test"}}`)
	if lr := decode[LegacyValidateResponse](t, body); code != 200 || lr.Status != "review_required" {
		t.Fatalf("legacy review_required: %d %s", code, body)
	}
}

func FuzzDecodeEventStore(f *testing.F) {
	f.Add([]byte(`{"event_type":"file_modified","aggregate_id":"a","data":{"x":1},"metadata":{}}`))
	f.Add([]byte(`{"event_type":5}`))
	f.Add([]byte(`{"data":null} x`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var q EventStoreRequest
		err := DecodeBytes(body, &q)
		if err == nil {
			err = q.Check()
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Message == "" {
				t.Fatalf("decode error is not a 4xx *Error: %#v", err)
			}
			return
		}
		if !snakeCase.MatchString(q.EventType) || len(q.Data) == 0 || !json.Valid(q.Data) {
			t.Fatalf("accepted an invalid request: %+v", q)
		}
	})
}

func FuzzDecodeValidate(f *testing.F) {
	f.Add([]byte(`{"tool_name":"Bash","tool_input":{"command":"ls"},"agent_id":"a"}`))
	f.Add([]byte(`{"id":1,"tool":"Bash","input":"ls","agent":"a"}`))
	f.Add([]byte(`{"tool_name":"","tool":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, legacy, err := DecodeValidate(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 {
				t.Fatalf("decode error is not a 4xx *Error: %#v", err)
			}
			return
		}
		if req.ToolName == "" {
			t.Fatalf("accepted an empty tool name (legacy=%v)", legacy != nil)
		}
		// Whatever was accepted, the rules give a decision without panicking.
		validate.Rules(req)
	})
}
