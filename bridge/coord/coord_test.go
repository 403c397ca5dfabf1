package coord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lighthouse-project/lighthouse/bridge/store"
	"github.com/lighthouse-project/lighthouse/bridge/validate"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t     *testing.T
	dir   string
	clock *clock
	st    *store.Store
	c     *Coordinator
	// limits bound the state (zero: the defaults).
	limits Limits
}

// newEnv opens a real store in a fresh directory with a fake clock and
// attaches a Coordinator.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.open()
	return e
}

func (e *env) open() {
	e.t.Helper()
	st, err := store.Open(e.dir, store.Options{Now: e.clock.now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.t.Cleanup(func() { st.Close() })
	e.c = New(Options{Store: st, Now: e.clock.now, Limits: e.limits})
	if err := st.Attach(0, e.c); err != nil {
		e.t.Fatal(err)
	}
}

// reopen closes the store and rebuilds the Coordinator from the log.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func kindOf(err error) (Kind, bool) {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind, true
	}
	return 0, false
}

func wantKind(t *testing.T, err error, k Kind) *Error {
	t.Helper()
	got, ok := kindOf(err)
	if !ok || got != k {
		t.Fatalf("error = %v, want kind %d", err, k)
	}
	var ce *Error
	errors.As(err, &ce)
	return ce
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var ctx = context.Background()

func TestAvailabilityFollowsHeartbeatsAndIdleLimit(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "sec", []string{"security"}))
	status := func() string { return e.c.Experts()[0].Status }
	e.clock.add(IdleAfter - time.Second)
	if s := status(); s != ExpertAvailable {
		t.Fatalf("just under 5 minutes idle: %s", s)
	}
	e.clock.add(time.Second)
	if s := status(); s != ExpertUnavailable {
		t.Fatalf("5 minutes idle: %s", s)
	}
	_, err := e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Bash", Capabilities: []string{"security"}})
	wantKind(t, err, Conflict)
	_, err = e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Bash", TargetExpert: "sec"})
	wantKind(t, err, Conflict)
	must[ExpertView](t)(e.c.Heartbeat(ctx, "sec"))
	if s := status(); s != ExpertAvailable {
		t.Fatalf("after heartbeat: %s", s)
	}
	_, err = e.c.Heartbeat(ctx, "nobody")
	wantKind(t, err, Forbidden)
}

func TestDelegationRoutingBusyAndCompletion(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "a", []string{"security", "performance"}))
	e.clock.add(time.Second)
	must[ExpertView](t)(e.c.Register(ctx, "b", []string{"security"}))
	// Both idle and equally loaded: the most recently seen (b) first, then
	// the less loaded one.
	d1 := must[Delegation](t)(e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Write", Capabilities: []string{"security"}}))
	d2 := must[Delegation](t)(e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Edit", Capabilities: []string{"security"}}))
	if d1.Target != "b" || d2.Target != "a" {
		t.Fatalf("targets %s, %s; want b then a", d1.Target, d2.Target)
	}
	d3 := must[Delegation](t)(e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Bash", Capabilities: []string{"performance", "security"}}))
	if d3.Target != "a" {
		t.Fatalf("only a has both capabilities, got %s", d3.Target)
	}
	_, err := e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Bash", Capabilities: []string{"architecture"}})
	wantKind(t, err, Conflict)
	_, err = e.c.Delegate(ctx, "a", DelegateRequest{ToolName: "Bash", Capabilities: []string{"performance"}})
	wantKind(t, err, Conflict) // a never routes to itself
	_, err = e.c.Delegate(ctx, "a", DelegateRequest{ToolName: "Bash", TargetExpert: "a"})
	wantKind(t, err, Conflict) // nor names itself
	_, err = e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Bash", TargetExpert: "ghost"})
	wantKind(t, err, NotFound)

	pending := must[[]Delegation](t)(e.c.PendingDelegations("a"))
	if len(pending) != 2 || pending[0].ID != d2.ID || pending[1].ID != d3.ID {
		t.Fatalf("a's pending work: %+v", pending)
	}
	_, err = e.c.PendingDelegations("builder")
	wantKind(t, err, Forbidden)
	if s := e.c.Experts()[0]; s.Status != ExpertBusy || s.Pending != 2 {
		t.Fatalf("a: %+v", s)
	}
	_, err = e.c.Complete(ctx, "b", d2.ID, json.RawMessage(`{"ok":true}`))
	wantKind(t, err, Forbidden)
	_, err = e.c.Complete(ctx, "a", d2.ID, nil)
	wantKind(t, err, Invalid)
	done := must[Delegation](t)(e.c.Complete(ctx, "a", d2.ID, json.RawMessage(`{"ok":true}`)))
	if done.Status != StatusCompleted || string(done.Result) != `{"ok":true}` {
		t.Fatalf("completed: %+v", done)
	}
	_, err = e.c.Complete(ctx, "a", d2.ID, json.RawMessage(`{"again":1}`))
	wantKind(t, err, Conflict)
	must[Delegation](t)(e.c.Complete(ctx, "a", d3.ID, json.RawMessage(`"done"`)))
	if s := e.c.Experts()[0]; s.Status != ExpertAvailable || s.Pending != 0 {
		t.Fatalf("a after completing everything: %+v", s)
	}
	got := must[Delegation](t)(e.c.Delegation("builder", d2.ID))
	if string(got.Result) != `{"ok":true}` {
		t.Fatalf("requester reads %+v", got)
	}
	_, err = e.c.Delegation("b", d2.ID)
	wantKind(t, err, Forbidden)
	_, err = e.c.Delegation("builder", "nope")
	wantKind(t, err, NotFound)
}

func TestElicitationRateLimitWithRetryAfter(t *testing.T) {
	e := newEnv(t)
	hour := 3600.0
	ask := func() error {
		_, err := e.c.CreateElicitation(ctx, "asker", ElicitRequest{To: "other", Message: "q?", TimeoutSeconds: &hour})
		return err
	}
	var ids []string
	for i := 0; i < MaxCreatesPerWindow; i++ {
		if err := ask(); err != nil {
			t.Fatalf("create %d: %v", i+1, err)
		}
		e.clock.add(time.Second)
	}
	ce := wantKind(t, ask(), RateLimited)
	// The first create was 10s ago: it leaves the window in 50s.
	if ce.RetryAfter != 50*time.Second {
		t.Fatalf("RetryAfter = %s, want 50s", ce.RetryAfter)
	}
	// Another agent has its own budget.
	if _, err := e.c.CreateElicitation(ctx, "other", ElicitRequest{To: "asker", Message: "q?"}); err != nil {
		t.Fatal(err)
	}
	// The limit survives a restart: it is rebuilt from the events.
	e.reopen()
	wantKind(t, ask(), RateLimited)
	e.clock.add(50 * time.Second)
	if err := ask(); err != nil {
		t.Fatalf("after the oldest left the window: %v", err)
	}
	wantKind(t, ask(), RateLimited)

	for _, x := range e.c.PendingElicitations("other") {
		ids = append(ids, x.ID)
	}
	if len(ids) != MaxCreatesPerWindow+1 {
		t.Fatalf("pending for other: %d", len(ids))
	}
	// Responses: 20 per minute. Make 25 questions over several windows.
	for i := 0; i < 15; i++ {
		e.clock.add(RateWindow)
		if err := ask(); err != nil {
			t.Fatal(err)
		}
	}
	es := e.c.PendingElicitations("other")
	if len(es) != 26 {
		t.Fatalf("pending %d, want 26", len(es))
	}
	for i, x := range es[:MaxResponsesPerWindow] {
		if _, err := e.c.Respond(ctx, "other", x.ID, ResponseDecline, nil); err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
	}
	_, err := e.c.Respond(ctx, "other", es[MaxResponsesPerWindow].ID, ResponseDecline, nil)
	if ce := wantKind(t, err, RateLimited); ce.RetryAfter != RateWindow {
		t.Fatalf("RetryAfter = %s, want %s", ce.RetryAfter, RateWindow)
	}
	if x := must[Elicitation](t)(e.c.ElicitationStatus("asker", es[MaxResponsesPerWindow].ID)); x.Status != StatusPending {
		t.Fatalf("a refused response changed the status: %s", x.Status)
	}
}

func TestElicitationExpiryAndRoles(t *testing.T) {
	e := newEnv(t)
	timeout := 30.0
	schema := json.RawMessage(`{"type":"object","required":["port"],"properties":{"port":{"type":"integer","minimum":1}}}`)
	q := must[Elicitation](t)(e.c.CreateElicitation(ctx, "builder", ElicitRequest{To: "sec", Message: "which port?", Schema: schema, TimeoutSeconds: &timeout}))
	if !q.ExpiresAt.Equal(e.clock.now().Add(30 * time.Second)) {
		t.Fatalf("expires_at %s", q.ExpiresAt)
	}
	_, err := e.c.Respond(ctx, "builder", q.ID, ResponseAccept, json.RawMessage(`{"port":8080}`))
	wantKind(t, err, Forbidden) // the asker cannot answer
	_, err = e.c.Respond(ctx, "sec", q.ID, ResponseCancel, nil)
	wantKind(t, err, Forbidden) // the addressee cannot cancel
	_, err = e.c.Respond(ctx, "third", q.ID, ResponseDecline, nil)
	wantKind(t, err, Forbidden)
	_, err = e.c.ElicitationStatus("third", q.ID)
	wantKind(t, err, Forbidden)
	_, err = e.c.Respond(ctx, "sec", q.ID, ResponseAccept, json.RawMessage(`{"port":"http"}`))
	wantKind(t, err, Invalid) // the schema is enforced
	_, err = e.c.Respond(ctx, "sec", q.ID, ResponseAccept, nil)
	wantKind(t, err, Invalid)
	_, err = e.c.Respond(ctx, "sec", q.ID, "maybe", nil)
	wantKind(t, err, Invalid)

	e.clock.add(29 * time.Second)
	if n := len(e.c.PendingElicitations("sec")); n != 1 {
		t.Fatalf("pending before expiry: %d", n)
	}
	e.clock.add(time.Second)
	if n := len(e.c.PendingElicitations("sec")); n != 0 {
		t.Fatalf("pending at expiry: %d", n)
	}
	x := must[Elicitation](t)(e.c.ElicitationStatus("builder", q.ID))
	if x.Status != StatusExpired {
		t.Fatalf("status %s", x.Status)
	}
	_, err = e.c.Respond(ctx, "sec", q.ID, ResponseAccept, json.RawMessage(`{"port":8080}`))
	wantKind(t, err, Gone)
	_, err = e.c.Respond(ctx, "builder", q.ID, ResponseCancel, nil)
	wantKind(t, err, Gone)

	// Answer, then cancel of an answered question is a conflict.
	q2 := must[Elicitation](t)(e.c.CreateElicitation(ctx, "builder", ElicitRequest{To: "sec", Message: "ok?", Schema: schema}))
	a := must[Elicitation](t)(e.c.Respond(ctx, "sec", q2.ID, ResponseAccept, json.RawMessage(`{"port":8080}`)))
	if a.Status != StatusAccepted || string(a.Data) != `{"port":8080}` {
		t.Fatalf("answered: %+v", a)
	}
	_, err = e.c.Respond(ctx, "builder", q2.ID, ResponseCancel, nil)
	wantKind(t, err, Conflict)
	q3 := must[Elicitation](t)(e.c.CreateElicitation(ctx, "builder", ElicitRequest{To: "sec", Message: "never mind"}))
	if c := must[Elicitation](t)(e.c.Respond(ctx, "builder", q3.ID, ResponseCancel, nil)); c.Status != StatusCancelled {
		t.Fatalf("cancelled: %+v", c)
	}

	for _, bad := range []ElicitRequest{
		{To: "", Message: "x"},
		{To: "builder", Message: "x"},
		{To: "sec", Message: " "},
		{To: "sec", Message: "x", Schema: json.RawMessage(`{"type":"no-such-type"}`)},
		{To: "sec", Message: "x", Schema: json.RawMessage(`{"$ref":"file:///etc/passwd"}`)},
		{To: "sec", Message: "x", TimeoutSeconds: new(float64)},
		{To: "sec", Message: "x", Schema: json.RawMessage(`"notaschema"`)},
		{To: "sec", Message: "x", Schema: json.RawMessage(`5`)},
		{To: "sec", Message: "x", Schema: json.RawMessage(`[]`)},
		{To: "sec", Message: "x", Schema: json.RawMessage(`{"items":"x"}`)},
	} {
		_, err := e.c.CreateElicitation(ctx, "builder", bad)
		wantKind(t, err, Invalid)
	}
}

func TestEscalationAnsweredByExpert(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "sec", []string{CapabilityCommandValidation}))
	req := validate.Request{ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"make build"}`), AgentID: "builder"}
	type out struct {
		d   validate.Decision
		ok  bool
		err error
	}
	res := make(chan out, 1)
	go func() {
		d, ok, err := e.c.Escalate(ctx, req, "security")
		res <- out{d, ok, err}
	}()
	var work []Delegation
	for i := 0; len(work) == 0; i++ {
		if i > 2000 {
			t.Fatal("the escalation never reached the expert")
		}
		time.Sleep(time.Millisecond)
		work = must[[]Delegation](t)(e.c.PendingDelegations("sec"))
	}
	if work[0].Kind != KindValidation || work[0].Requester != "builder" || work[0].ToolName != "Bash" {
		t.Fatalf("delegation %+v", work[0])
	}
	_, err := e.c.Complete(ctx, "sec", work[0].ID, json.RawMessage(`{"decision":"maybe","reasoning":"x"}`))
	wantKind(t, err, Invalid)
	must[Delegation](t)(e.c.Complete(ctx, "sec", work[0].ID, json.RawMessage(`{"decision":"approved","reasoning":"builds only","confidence":0.9}`)))
	r := <-res
	if r.err != nil || !r.ok {
		t.Fatalf("escalate: ok=%v err=%v", r.ok, r.err)
	}
	want := validate.Decision{Decision: "approved", Reasoning: "builds only", Confidence: 0.9, RiskLevel: "medium",
		ExpertRequired: true, Rule: validate.RuleExpert, Expert: "sec"}
	if diff := cmp.Diff(want, r.d); diff != "" {
		t.Fatalf("decision (-want +got):\n%s", diff)
	}
	// The builder itself is never its own judge.
	must[ExpertView](t)(e.c.Register(ctx, "builder", []string{"security"}))
	e.clock.add(IdleAfter) // sec goes idle; only builder is fresh... after its registration
	must[ExpertView](t)(e.c.Heartbeat(ctx, "builder"))
	if _, ok, _ := e.c.Escalate(ctx, req, "security"); ok {
		t.Fatal("escalated to the requester itself or to an idle expert")
	}
}

// TestAnswerStampedAfterExpiryIsGone: an answer that passes the checks just
// before expiry but is stamped by the log after it is not applied, and the
// caller is told so (410), not given a 200 with an expired question.
func TestAnswerStampedAfterExpiryIsGone(t *testing.T) {
	e := newEnv(t)
	timeout := 30.0
	q := must[Elicitation](t)(e.c.CreateElicitation(ctx, "builder", ElicitRequest{To: "sec", Message: "which port?", TimeoutSeconds: &timeout}))
	e.clock.add(29 * time.Second)
	// The coordinator checks at 29 s; the store stamps at 31 s.
	checks := e.clock.now()
	e.c.now = func() time.Time { return checks }
	e.clock.add(2 * time.Second)
	_, err := e.c.Respond(ctx, "sec", q.ID, ResponseAccept, json.RawMessage(`{"port":8080}`))
	wantKind(t, err, Gone)
	e.c.now = e.clock.now
	if x := must[Elicitation](t)(e.c.ElicitationStatus("builder", q.ID)); x.Status != StatusExpired || x.Data != nil {
		t.Fatalf("status after a late answer: %+v", x)
	}
}

func TestEscalationTimesOutAndExpiresTheDelegation(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "sec", []string{"security"}))
	req := validate.Request{ToolName: "Write", ToolInput: json.RawMessage(`{"file_path":"a.go"}`), AgentID: "builder"}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, ok, err := e.c.Escalate(tctx, req, "security")
	if !ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ok=%v err=%v; want an expert that did not answer in time", ok, err)
	}
	all := e.c.st.Delegations
	if len(all) != 1 {
		t.Fatalf("%d delegations", len(all))
	}
	var id string
	for id = range all {
	}
	d := must[Delegation](t)(e.c.Delegation("sec", id))
	if d.Status != StatusExpired {
		t.Fatalf("status %s", d.Status)
	}
	_, err = e.c.Complete(ctx, "sec", id, json.RawMessage(`{"decision":"approved","reasoning":"late"}`))
	wantKind(t, err, Conflict)
	if n := len(must[[]Delegation](t)(e.c.PendingDelegations("sec"))); n != 0 {
		t.Fatalf("expired work still pending: %d", n)
	}
	if len(e.c.waiters) != 0 {
		t.Fatalf("waiters leak: %d", len(e.c.waiters))
	}
}

func TestTasksAndCollaborations(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "perf", []string{"performance"}))
	tk := must[Task](t)(e.c.Dispatch(ctx, "builder", TaskRequest{Capabilities: []string{"performance"}, Description: "profile the build"}))
	if tk.To != "perf" || tk.Status != StatusPending {
		t.Fatalf("task %+v", tk)
	}
	if got := e.c.PendingTasks("perf"); len(got) != 1 || got[0].ID != tk.ID {
		t.Fatalf("pending %+v", got)
	}
	_, err := e.c.CompleteTask(ctx, "builder", tk.ID, nil)
	wantKind(t, err, Forbidden)
	_, err = e.c.Task("stranger", tk.ID)
	wantKind(t, err, Forbidden)
	if d := must[Task](t)(e.c.CompleteTask(ctx, "perf", tk.ID, json.RawMessage(`{"p99_ms":3}`))); d.Status != StatusCompleted {
		t.Fatalf("task %+v", d)
	}
	_, err = e.c.CompleteTask(ctx, "perf", tk.ID, nil)
	wantKind(t, err, Conflict)
	_, err = e.c.Dispatch(ctx, "builder", TaskRequest{Description: "x"})
	wantKind(t, err, Invalid)

	col := must[Collaboration](t)(e.c.StartCollaboration(ctx, "builder", []string{"perf", "sec", "perf"}, "speed up CI"))
	if diff := cmp.Diff([]string{"builder", "perf", "sec"}, col.Participants); diff != "" {
		t.Fatalf("participants: %s", diff)
	}
	_, err = e.c.EndCollaboration(ctx, "stranger", col.ID, "")
	wantKind(t, err, Forbidden)
	end := must[Collaboration](t)(e.c.EndCollaboration(ctx, "sec", col.ID, "done"))
	if end.Status != StatusEnded || end.EndedBy != "sec" || end.Summary != "done" {
		t.Fatalf("ended %+v", end)
	}
	_, err = e.c.EndCollaboration(ctx, "builder", col.ID, "")
	wantKind(t, err, Conflict)
	_, err = e.c.StartCollaboration(ctx, "builder", nil, "x")
	wantKind(t, err, Invalid)
}

// TestRebuildAndSnapshotRoundTrip checks that replaying the log and
// restoring a snapshot then replaying the tail give the same state.
func TestRebuildAndSnapshotRoundTrip(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "sec", []string{"security"}))
	d := must[Delegation](t)(e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Write", TargetExpert: "sec", ToolInput: json.RawMessage(`{"file_path":"x"}`)}))
	q := must[Elicitation](t)(e.c.CreateElicitation(ctx, "builder", ElicitRequest{To: "sec", Message: "why?"}))
	snap := must[[]byte](t)(e.c.MarshalState())
	snapSeq := e.st.LastSequence()
	e.clock.add(time.Second)
	must[Delegation](t)(e.c.Complete(ctx, "sec", d.ID, json.RawMessage(`{"fine":true}`)))
	must[Elicitation](t)(e.c.Respond(ctx, "sec", q.ID, ResponseDecline, nil))
	must[Task](t)(e.c.Dispatch(ctx, "builder", TaskRequest{TargetAgent: "sec", Description: "look"}))
	live := must[[]byte](t)(e.c.MarshalState())

	e.reopen()
	rebuilt := must[[]byte](t)(e.c.MarshalState())
	if diff := cmp.Diff(decodeState(t, live), decodeState(t, rebuilt)); diff != "" {
		t.Fatalf("state rebuilt from the log differs (-live +rebuilt):\n%s", diff)
	}

	// Apply is idempotent: replaying the log again (a snapshot taken at an
	// older sequence than another section) changes nothing.
	if err := e.st.ReadFrom(0, e.c.Apply); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(decodeState(t, live), decodeState(t, must[[]byte](t)(e.c.MarshalState()))); diff != "" {
		t.Fatalf("a second replay changed the state (-once +twice):\n%s", diff)
	}

	fromSnap := New(Options{Store: e.st, Now: e.clock.now})
	if err := fromSnap.RestoreState(snap); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ReadFrom(snapSeq, fromSnap.Apply); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(decodeState(t, live), decodeState(t, must[[]byte](t)(fromSnap.MarshalState()))); diff != "" {
		t.Fatalf("snapshot + tail differs (-live +restored):\n%s", diff)
	}
	// The derived indexes agree: maintained event by event, rebuilt after
	// a restore, and recomputed from scratch.
	indexes := func(st *State) []map[string]map[string]bool {
		return []map[string]map[string]bool{st.pendingDel, st.pendingTask, st.openElicit}
	}
	scratch := &State{Delegations: e.c.st.Delegations, Tasks: e.c.st.Tasks, Elicitations: e.c.st.Elicitations}
	scratch.reindex()
	for _, other := range []*State{fromSnap.st, scratch} {
		if diff := cmp.Diff(indexes(e.c.st), indexes(other)); diff != "" {
			t.Fatalf("indexes differ:\n%s", diff)
		}
	}
	if got := e.c.st.pendingTask["sec"]; len(got) != 1 {
		t.Fatalf("sec's pending tasks index: %v", got)
	}
	if err := fromSnap.RestoreState([]byte(`{"experts":{}}`)); err == nil {
		t.Fatal("a snapshot missing sections was accepted")
	}
}

func decodeState(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestApplyIgnoresEventsThatDoNotFit feeds forged or late events directly:
// the actor is the event's agent, so nobody completes another's work.
func TestApplyIgnoresEventsThatDoNotFit(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "sec", []string{"security"}))
	d := must[Delegation](t)(e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Write", TargetExpert: "sec"}))
	forged := []store.Event{
		{Type: EventDelegationCompleted, AgentID: "builder", Data: json.RawMessage(fmt.Sprintf(`{"delegation_id":%q,"result":1}`, d.ID))},
		{Type: EventDelegationCompleted, AgentID: "", Data: json.RawMessage(fmt.Sprintf(`{"delegation_id":%q,"result":1}`, d.ID))},
		{Type: EventDelegationExpired, AgentID: "sec", Data: json.RawMessage(fmt.Sprintf(`{"delegation_id":%q}`, d.ID))},
	}
	for _, ev := range forged {
		if err := e.c.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	if got := must[Delegation](t)(e.c.Delegation("builder", d.ID)); got.Status != StatusPending {
		t.Fatalf("a forged event changed the delegation: %+v", got)
	}
	if err := e.c.Apply(store.Event{Type: EventExpertRegistered, AgentID: "x", Data: json.RawMessage(`[`)}); err == nil {
		t.Fatal("undecodable event data was not reported")
	}
}

// TestSettledWorkIsForgottenAfterRetention: settled items leave the state
// a day after they settle, open ones never do, and a restart forgets the
// same.
func TestSettledWorkIsForgottenAfterRetention(t *testing.T) {
	e := newEnv(t)
	must[ExpertView](t)(e.c.Register(ctx, "sec", []string{"security"}))
	done := must[Delegation](t)(e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Write", TargetExpert: "sec"}))
	open := must[Delegation](t)(e.c.Delegate(ctx, "builder", DelegateRequest{ToolName: "Edit", TargetExpert: "sec"}))
	must[Delegation](t)(e.c.Complete(ctx, "sec", done.ID, json.RawMessage(`1`)))
	ten := 10.0
	q := must[Elicitation](t)(e.c.CreateElicitation(ctx, "builder", ElicitRequest{To: "sec", Message: "?", TimeoutSeconds: &ten}))
	col := must[Collaboration](t)(e.c.StartCollaboration(ctx, "builder", []string{"sec"}, "x"))
	must[Collaboration](t)(e.c.EndCollaboration(ctx, "builder", col.ID, ""))
	snap, snapSeq := must[[]byte](t)(e.c.MarshalState()), e.st.LastSequence()

	e.clock.add(Retention - time.Second)
	must[ExpertView](t)(e.c.Heartbeat(ctx, "sec")) // any event lets the state forget
	must[Delegation](t)(e.c.Delegation("builder", done.ID))
	must[Elicitation](t)(e.c.ElicitationStatus("builder", q.ID))

	e.clock.add(11 * time.Second)
	must[ExpertView](t)(e.c.Heartbeat(ctx, "sec"))
	_, err := e.c.Delegation("builder", done.ID)
	wantKind(t, err, NotFound)
	_, err = e.c.ElicitationStatus("builder", q.ID)
	wantKind(t, err, NotFound)
	_, err = e.c.Collaboration("builder", col.ID)
	wantKind(t, err, NotFound)
	if d := must[Delegation](t)(e.c.Delegation("builder", open.ID)); d.Status != StatusPending {
		t.Fatalf("open work was forgotten: %+v", d)
	}
	live := must[[]byte](t)(e.c.MarshalState())
	e.reopen()
	if diff := cmp.Diff(decodeState(t, live), decodeState(t, must[[]byte](t)(e.c.MarshalState()))); diff != "" {
		t.Fatalf("replay forgets differently (-live +replayed):\n%s", diff)
	}
	// A snapshot from before the day passed, plus the tail, forgets the same.
	restored := New(Options{Store: e.st, Now: e.clock.now})
	if err := restored.RestoreState(snap); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ReadFrom(0, restored.Apply); err != nil { // from 0: the snapshot's sequence skips the head
		t.Fatal(err)
	}
	if diff := cmp.Diff(decodeState(t, live), decodeState(t, must[[]byte](t)(restored.MarshalState()))); diff != "" {
		t.Fatalf("snapshot %d + tail forgets differently (-live +restored):\n%s", snapSeq, diff)
	}
	if n := len(e.c.st.Delegations) + len(e.c.st.Elicitations) + len(e.c.st.Collaborations); n != 1 {
		t.Fatalf("%d items left, want the open delegation only", n)
	}
}
