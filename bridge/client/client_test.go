package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/server/servertest"
	"github.com/lighthouse-project/lighthouse/bridge/store"
	"go.etcd.io/bbolt"
)

// recorder serves the Bridge's API and records the route-table pattern
// of every request that reaches it.
type recorder struct {
	mux  *http.ServeMux
	next http.Handler
	mu   sync.Mutex
	seen map[string]bool
}

func newRecorder(next http.Handler) *recorder {
	r := &recorder{mux: http.NewServeMux(), next: next, seen: map[string]bool{}}
	for _, p := range api.Declared() {
		for _, rt := range p.Routes {
			r.mux.Handle(rt.Pattern(), http.NotFoundHandler())
		}
	}
	return r
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if _, pattern := r.mux.Handler(req); pattern != "" {
		r.mu.Lock()
		r.seen[pattern] = true
		r.mu.Unlock()
	}
	r.next.ServeHTTP(w, req)
}

// serveRecorded serves rec on a port of its own for the test's life.
func serveRecorded(t *testing.T, rec *recorder) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// TestEveryRouteHasAClientMethod calls every method of the client against
// a real Bridge and holds the routes they reached against the route
// table: a route added to the table without a client method fails here.
func TestEveryRouteHasAClientMethod(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	rec := newRecorder(br.B.API())
	url := serveRecorded(t, rec)
	mk := func(agent string, admin bool) *client.Client {
		c, err := client.New(client.Options{BaseURL: url, AgentID: agent, AgentKey: br.Key(agent, admin)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob, root := mk("alice", false), mk("bob", false), mk("root", true)
	ctx := context.Background()

	if h := must[api.HealthResponse](t, "health")(alice.Health(ctx)); h.Status != "healthy" {
		t.Fatalf("health %+v", h)
	}
	must[api.HealthResponse](t, "live")(alice.Live(ctx))
	if st := must[api.StatusResponse](t, "status")(alice.Status(ctx)); st.Status != "ready" {
		t.Fatalf("status %+v", st)
	}
	must[api.StatusResponse](t, "ready")(alice.Ready(ctx))
	fams := must[map[string]*dtoFamily](t, "metrics")(metrics(alice, ctx))
	if fams["lighthouse_event_store_last_sequence"] == nil {
		t.Fatalf("metrics without the store's sequence: %d families", len(fams))
	}
	ns, err := alice.CreateSession(ctx)
	if err != nil || ns.AgentID != "alice" {
		t.Fatalf("create session: %+v %v", ns, err)
	}
	if ok := must[bool](t, "validate session")(alice.ValidateSession(ctx, ns.Token, "alice")); !ok {
		t.Fatal("a fresh session is not valid")
	}

	stored := must[api.EventStoreResponse](t, "store")(alice.StoreEvent(ctx, api.EventStoreRequest{EventType: "build_done", Data: json.RawMessage(`{"ok":true}`)}))
	q := must[api.EventQueryResponse](t, "query")(alice.QueryEvents(ctx, api.EventQuery{EventType: "build_done"}))
	if q.Count != 1 || q.Events[0].Sequence != stored.Sequence {
		t.Fatalf("query %+v", q)
	}
	sctx, stop := context.WithTimeout(ctx, 10*time.Second)
	var got []store.Event
	err = alice.Stream(sctx, stored.Sequence-1, client.StreamOptions{}, func(e store.Event) error {
		got = append(got, e)
		return errStop
	})
	stop()
	if !errors.Is(err, errStop) || len(got) != 1 || got[0].Sequence != stored.Sequence {
		t.Fatalf("stream: %v %+v", err, got)
	}

	v := must[api.ValidateResponse](t, "validate")(alice.Validate(ctx, api.ValidateRequest{ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"rm -rf /"}`)}))
	if v.Approved || v.Decision != "blocked" {
		t.Fatalf("rm -rf / %+v", v)
	}
	lv := must[api.LegacyValidateResponse](t, "legacy validate")(alice.ValidateLegacy(ctx, api.LegacyValidateRequest{Tool: "Bash", Input: json.RawMessage(`"ls -la"`)}))
	if lv.Status != "approved" {
		t.Fatalf("legacy ls %+v", lv)
	}

	w := must[api.ShadowWrite](t, "put")(alice.PutShadow(ctx, "src/main.go", []byte("package main\n")))
	sc := must[client.ShadowContent](t, "get")(alice.GetShadow(ctx, "src/main.go", client.ShadowRead{Offset: 8, Length: 4}))
	if string(sc.Content) != "main" || sc.Offset != 8 || sc.Size != 13 || sc.Sequence != w.Sequence || sc.SHA256 != w.SHA256 {
		t.Fatalf("range read %+v (write %+v)", sc, w)
	}
	if info := must[client.ShadowInfo](t, "stat")(alice.StatShadow(ctx, "src/main.go", nil)); info.Size != 13 || info.SHA256 != w.SHA256 {
		t.Fatalf("stat %+v", info)
	}
	if l := must[api.ShadowList](t, "list")(alice.ListShadow(ctx, "src", nil)); len(l.Files) != 1 || l.Files[0].Path != "src/main.go" {
		t.Fatalf("list %+v", l)
	}
	d := must[api.ShadowWrite](t, "delete")(alice.DeleteShadow(ctx, "src/main.go"))
	h := must[client.ShadowHistory](t, "history")(alice.ShadowHistory(ctx, "src/main.go", 0, 0))
	if len(h.Versions) != 2 || h.Versions[0].Sequence != w.Sequence || h.Versions[1].Sequence != d.Sequence || h.Versions[0].Size != 13 {
		t.Fatalf("history %+v", h)
	}
	if old := must[client.ShadowContent](t, "get at")(alice.GetShadow(ctx, "src/main.go", client.ShadowRead{At: client.At(w.Sequence)})); string(old.Content) != "package main\n" {
		t.Fatalf("read as of %d: %q", w.Sequence, old.Content)
	}

	must[api.ExpertResponse](t, "register")(bob.RegisterExpert(ctx, api.RegisterRequest{Capabilities: []string{"security"}}))
	must[api.ExpertResponse](t, "heartbeat")(bob.Heartbeat(ctx))
	if ex := must[api.ExpertListResponse](t, "experts")(alice.Experts(ctx)); ex.Count != 1 {
		t.Fatalf("experts %+v", ex)
	}
	del := must[api.DelegateResponse](t, "delegate")(alice.Delegate(ctx, api.DelegateRequest{ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"make"}`), TargetExpert: "bob"}))
	if ds := must[api.DelegationListResponse](t, "delegations")(bob.Delegations(ctx)); ds.Count != 1 {
		t.Fatalf("delegations %+v", ds)
	}
	must[coordDelegation](t, "delegation")(bob.Delegation(ctx, del.DelegationID))
	if dc := must[coordDelegation](t, "complete delegation")(bob.CompleteDelegation(ctx, del.DelegationID, api.CompleteRequest{Result: json.RawMessage(`{"decision":"approved"}`)})); dc.Status != "completed" {
		t.Fatalf("completed delegation %+v", dc)
	}
	task := must[api.TaskDispatchResponse](t, "dispatch")(alice.DispatchTask(ctx, api.TaskRequest{TargetAgent: "bob", Description: "review"}))
	must[api.TaskListResponse](t, "pending tasks")(bob.PendingTasks(ctx))
	must[coordTask](t, "task")(alice.Task(ctx, task.TaskID))
	must[coordTask](t, "complete task")(bob.CompleteTask(ctx, task.TaskID, api.CompleteRequest{Result: json.RawMessage(`"done"`)}))
	col := must[coordCollab](t, "collaborate")(alice.StartCollaboration(ctx, api.CollaborationRequest{Participants: []string{"bob"}, Topic: "auth"}))
	must[coordCollab](t, "collaboration")(bob.Collaboration(ctx, col.ID))
	must[coordCollab](t, "end")(alice.EndCollaboration(ctx, col.ID, api.EndRequest{Summary: "agreed"}))
	el := must[api.ElicitResponse](t, "elicit")(alice.CreateElicitation(ctx, api.ElicitRequest{ToAgent: "bob", Message: "ok?"}))
	must[api.ElicitationListResponse](t, "pending elicitations")(bob.PendingElicitations(ctx))
	must[coordElicitation](t, "respond")(bob.RespondElicitation(ctx, api.RespondRequest{ElicitationID: el.ElicitationID, ResponseType: "accept", Data: json.RawMessage(`{"yes":true}`)}))
	if es := must[coordElicitation](t, "elicitation status")(alice.ElicitationStatus(ctx, el.ElicitationID)); es.ResponseType != "accept" {
		t.Fatalf("elicitation %+v", es)
	}

	var backup bytes.Buffer
	n := must[int64](t, "backup")(root.Backup(ctx, &backup))
	if n == 0 || int64(backup.Len()) != n {
		t.Fatalf("backup %d bytes, buffer %d", n, backup.Len())
	}
	checkBolt(t, backup.Bytes())

	var missing []string
	for _, p := range api.Declared() {
		for _, rt := range p.Routes {
			if !rec.seen[rt.Pattern()] {
				missing = append(missing, rt.Pattern())
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("routes of the table no client method reached (add one to bridge/client and call it here):\n  %s", strings.Join(missing, "\n  "))
	}
}

var errStop = errors.New("stop")

// checkBolt opens a backup as a bbolt file: a consistent copy.
func checkBolt(t *testing.T, b []byte) {
	t.Helper()
	path := t.TempDir() + "/events.db"
	if err := writeFile(path, b); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	db.Close()
}

// TestTheTableIsWhatTheServerServes: Declared is the table a running
// Bridge serves, so the coverage above holds for the real one.
func TestTheTableIsWhatTheServerServes(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	var served, declared []string
	for _, rt := range br.B.API().Routes() {
		served = append(served, rt.Pattern())
	}
	for _, p := range api.Declared() {
		for _, rt := range p.Routes {
			declared = append(declared, rt.Pattern())
		}
	}
	slices.Sort(served)
	slices.Sort(declared)
	if !slices.Equal(served, declared) {
		t.Fatalf("served %v\ndeclared %v", served, declared)
	}
}
