package mcpserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/server/servertest"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/mcpserver"
)

// agent is an MCP client session of one agent, connected in memory to
// its own lighthouse-mcp server.
type agent struct {
	t  *testing.T
	cs *mcp.ClientSession
}

func connect(t *testing.T, o mcpserver.Options) *agent {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := mcpserver.New(o).Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "v0"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	return &agent{t: t, cs: cs}
}

func agentOf(t *testing.T, br *servertest.Bridge, id string) *agent {
	return connect(t, mcpserver.Options{Client: br.Client(id, false), MaxReadBytes: 64})
}

// call calls a tool and returns its result; failed says whether it was
// a tool error.
func (a *agent) call(name string, args any) (res *mcp.CallToolResult) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		a.t.Fatalf("%s: protocol error %v", name, err)
	}
	return res
}

// ok calls a tool that must succeed and decodes its structured output.
func ok[T any](a *agent, name string, args any) T {
	a.t.Helper()
	res := a.call(name, args)
	if res.IsError {
		a.t.Fatalf("%s(%v): tool error %s", name, args, text(res))
	}
	var out T
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		a.t.Fatalf("%s: output %s: %v", name, b, err)
	}
	return out
}

// fails calls a tool that must fail and returns its error text.
func (a *agent) fails(name string, args any) string {
	a.t.Helper()
	res := a.call(name, args)
	if !res.IsError {
		a.t.Fatalf("%s(%v) succeeded: %v", name, args, res.StructuredContent)
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

type m = map[string]any

// TestEveryToolAgainstARealBridge: every tool, called by the agents it is
// for, does what its route does; every tool's schemas are derived and
// describe every property.
func TestEveryToolAgainstARealBridge(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	alice, bob := agentOf(t, br, "alice"), agentOf(t, br, "bob")
	ctx := context.Background()

	tools, err := alice.cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		for what, sch := range map[string]any{"input": tl.InputSchema, "output": tl.OutputSchema} {
			var s jsonschema.Schema
			b, _ := json.Marshal(sch)
			if err := json.Unmarshal(b, &s); err != nil || s.Type != "object" {
				t.Errorf("%s: %s schema %s", tl.Name, what, b)
			}
			if what == "input" {
				for p, ps := range s.Properties {
					if ps.Description == "" {
						t.Errorf("%s: input property %s has no description", tl.Name, p)
					}
				}
			}
		}
		if tl.Description == "" {
			t.Errorf("%s has no description", tl.Name)
		}
	}
	called := map[string]bool{}
	use := func(name string) string { called[name] = true; return name }

	st := ok[api.StatusResponse](alice, use("bridge_status"), m{})
	if st.Status != "ready" {
		t.Fatalf("status %+v", st)
	}
	ev := ok[api.EventStoreResponse](alice, use("event_store"), m{"event_type": "build_done", "data": m{"ok": true}, "aggregate_id": "build-1"})
	q := ok[api.EventQueryResponse](bob, use("event_query"), m{"aggregate_id": "build-1", "start_time": "2000-01-01T00:00:00Z"})
	if q.Count != 1 || q.Events[0].Sequence != ev.Sequence || string(q.Events[0].Data) != `{"ok":true}` {
		t.Fatalf("query %+v", q)
	}

	content := strings.Repeat("line of the file\n", 10) // 170 bytes: three reads of 64
	w := ok[api.ShadowWrite](alice, use("shadow_write"), m{"path": "src/a.txt", "content": content})
	r := ok[mcpserver.ShadowReadOutput](bob, use("shadow_read"), m{"path": "src/a.txt"})
	if r.Content != content[:64] || !r.Truncated || r.NextOffset != 64 || r.Size != 170 || r.Encoding != "utf-8" || r.SHA256 != w.SHA256 {
		t.Fatalf("first read %+v", r)
	}
	r = ok[mcpserver.ShadowReadOutput](bob, "shadow_read", m{"path": "src/a.txt", "offset": 128})
	if r.Content != content[128:] || r.Truncated || r.Offset != 128 {
		t.Fatalf("last read %+v", r)
	}
	bin := []byte{0xff, 0x00, 0xfe}
	ok[api.ShadowWrite](alice, "shadow_write", m{"path": "bin/x", "content": base64.StdEncoding.EncodeToString(bin), "encoding": "base64"})
	if r := ok[mcpserver.ShadowReadOutput](bob, "shadow_read", m{"path": "bin/x"}); r.Encoding != "base64" || r.Content != base64.StdEncoding.EncodeToString(bin) {
		t.Fatalf("binary read %+v", r)
	}
	if l := ok[api.ShadowList](bob, use("shadow_list"), m{"dir": "src"}); len(l.Files) != 1 || l.Files[0].Path != "src/a.txt" {
		t.Fatalf("list %+v", l)
	}
	ok[api.ShadowWrite](alice, "shadow_write", m{"path": "src/a.txt", "content": "v2"})
	del := ok[api.ShadowWrite](alice, use("shadow_delete"), m{"path": "src/a.txt"})
	h := ok[client.ShadowHistory](bob, use("shadow_history"), m{"path": "src/a.txt"})
	if len(h.Versions) != 3 || h.Versions[2].Sequence != del.Sequence || h.Versions[2].Type != "file_deleted" {
		t.Fatalf("history %+v", h)
	}
	if r := ok[mcpserver.ShadowReadOutput](bob, "shadow_read", m{"path": "src/a.txt", "at": w.Sequence, "length": 4}); r.Content != "line" {
		t.Fatalf("read as of %d: %+v", w.Sequence, r)
	}
	if msg := bob.fails("shadow_read", m{"path": "src/a.txt"}); !strings.Contains(msg, "404") || !strings.Contains(msg, `no shadow file "src/a.txt"`) {
		t.Fatalf("a deleted file: %s", msg)
	}

	v := ok[api.ValidateResponse](alice, use("validate_command"), m{"tool_name": "Bash", "tool_input": m{"command": "rm -rf /"}})
	if v.Approved || v.Decision != "blocked" {
		t.Fatalf("rm -rf / %+v", v)
	}

	ok[api.ExpertResponse](bob, use("expert_register"), m{"capabilities": []string{"security"}})
	ok[api.ExpertResponse](bob, use("expert_heartbeat"), m{})
	if ex := ok[api.ExpertListResponse](alice, use("expert_list"), m{}); ex.Count != 1 || ex.Experts[0].AgentID != "bob" {
		t.Fatalf("experts %+v", ex)
	}
	d := ok[api.DelegateResponse](alice, use("delegate"), m{"tool_name": "Bash", "tool_input": m{"command": "make deploy"}, "capabilities": []string{"security"}})
	if ds := ok[api.DelegationListResponse](bob, use("delegation_list"), m{}); ds.Count != 1 || ds.Delegations[0].ID != d.DelegationID {
		t.Fatalf("delegations %+v", ds)
	}
	ok[coord.Delegation](alice, use("delegation_get"), m{"id": d.DelegationID})
	if dc := ok[coord.Delegation](bob, use("delegation_complete"), m{"id": d.DelegationID, "result": m{"decision": "approved"}}); dc.Status != "completed" {
		t.Fatalf("complete %+v", dc)
	}
	task := ok[api.TaskDispatchResponse](alice, use("task_dispatch"), m{"target_agent": "bob", "description": "review src/", "data": []int{1, 2}})
	if ts := ok[api.TaskListResponse](bob, use("task_list"), m{}); ts.Count != 1 {
		t.Fatalf("tasks %+v", ts)
	}
	ok[coord.Task](alice, use("task_get"), m{"id": task.TaskID})
	if tc := ok[coord.Task](bob, use("task_complete"), m{"id": task.TaskID, "result": "looks fine"}); tc.Status != "completed" || string(tc.Result) != `"looks fine"` {
		t.Fatalf("task %+v", tc)
	}
	el := ok[api.ElicitResponse](alice, use("elicitation_create"), m{"to_agent": "bob", "message": "ship it?", "schema": m{"type": "object"}, "timeout_seconds": 60})
	if es := ok[api.ElicitationListResponse](bob, use("elicitation_list"), m{}); es.Count != 1 {
		t.Fatalf("questions %+v", es)
	}
	ok[coord.Elicitation](bob, use("elicitation_answer"), m{"elicitation_id": el.ElicitationID, "response_type": "accept", "data": m{"ship": true}})
	if e := ok[coord.Elicitation](alice, use("elicitation_status"), m{"id": el.ElicitationID}); e.ResponseType != "accept" || string(e.Data) != `{"ship":true}` {
		t.Fatalf("answer %+v", e)
	}
	col := ok[coord.Collaboration](alice, use("collaboration_start"), m{"participants": []string{"bob"}, "topic": "auth"})
	ok[coord.Collaboration](bob, use("collaboration_get"), m{"id": col.ID})
	if ce := ok[coord.Collaboration](alice, use("collaboration_end"), m{"id": col.ID, "summary": "done"}); ce.Status != "ended" {
		t.Fatalf("end %+v", ce)
	}

	slices.Sort(names)
	var missed []string
	for _, n := range names {
		if !called[n] {
			missed = append(missed, n)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("tools this test never called: %v", missed)
	}

	// Refusals are tool errors with the Bridge's status and message.
	if msg := bob.fails("task_complete", m{"id": task.TaskID, "result": 1}); !strings.Contains(msg, "409") && !strings.Contains(msg, "410") && !strings.Contains(msg, "403") {
		t.Errorf("completing twice: %s", msg)
	}
	if msg := alice.fails("event_store", m{"event_type": "file_modified", "data": 1}); !strings.Contains(msg, "403") || !strings.Contains(msg, "PUT /shadow/{path...}") {
		t.Errorf("a reserved type: %s", msg)
	}
	if msg := alice.fails("shadow_write", m{"path": "../etc/passwd", "content": "x"}); !strings.Contains(msg, "400") {
		t.Errorf("an escaping path: %s", msg)
	}
	if msg := alice.fails("event_store", m{"data": 1}); !strings.Contains(msg, "event_type") {
		t.Errorf("a missing argument: %s", msg)
	}
}

// TestShadowFilesAreResources: the templates are listed, and reading
// lighthouse://shadow/PATH and lighthouse://history/SEQ/PATH gives the
// file, as text or bytes; a missing file is "not found".
func TestShadowFilesAreResources(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	alice := agentOf(t, br, "alice")
	ctx := context.Background()
	w1 := ok[api.ShadowWrite](alice, "shadow_write", m{"path": "docs/read me.md", "content": "# one"})
	ok[api.ShadowWrite](alice, "shadow_write", m{"path": "docs/read me.md", "content": "# two"})
	ok[api.ShadowWrite](alice, "shadow_write", m{"path": "b.bin", "content": "/w==", "encoding": "base64"})
	tpl, err := alice.cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(tpl.ResourceTemplates) != 2 {
		t.Fatalf("templates %+v %v", tpl, err)
	}
	read := func(uri string) (*mcp.ReadResourceResult, error) {
		return alice.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	}
	if r, err := read("lighthouse://shadow/docs/read%20me.md"); err != nil || r.Contents[0].Text != "# two" {
		t.Fatalf("latest: %+v %v", r, err)
	}
	if r, err := read(fmt.Sprintf("lighthouse://history/%d/docs/read%%20me.md", w1.Sequence)); err != nil || r.Contents[0].Text != "# one" {
		t.Fatalf("as of %d: %+v %v", w1.Sequence, r, err)
	}
	if r, err := read("lighthouse://shadow/b.bin"); err != nil || string(r.Contents[0].Blob) != "\xff" {
		t.Fatalf("binary: %+v %v", r, err)
	}
	for _, uri := range []string{"lighthouse://shadow/nope", "lighthouse://shadow/../x", "lighthouse://history/x/docs/a"} {
		if _, err := read(uri); err == nil {
			t.Errorf("%s was read", uri)
		}
	}
}

// TestExpiredSessionIsRenewedTransparently: an hour later the agent's
// session has expired; its next tool call works all the same.
func TestExpiredSessionIsRenewedTransparently(t *testing.T) {
	clock := servertest.NewClock()
	br := servertest.Start(t, servertest.Options{Clock: clock})
	c := br.Client("alice", false)
	a := connect(t, mcpserver.Options{Client: c})
	ok[api.EventStoreResponse](a, "event_store", m{"event_type": "note", "data": 1})
	first := c.Token()
	clock.Add(2 * time.Hour)
	ok[api.EventStoreResponse](a, "event_store", m{"event_type": "note", "data": 2})
	if c.Token() == first {
		t.Fatal("the session was not renewed")
	}
	if q := ok[api.EventQueryResponse](a, "event_query", m{"event_type": "note"}); q.Count != 2 {
		t.Fatalf("events %+v", q)
	}
}

// TestBridgeStoppingMidCall: the Bridge's server stops while a tool call
// waits for its answer; the call ends with a clean tool error, at once,
// and so does every call after it.
func TestBridgeStoppingMidCall(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	arrived := make(chan struct{})
	var once sync.Once
	front := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/validate" {
			once.Do(func() { close(arrived) })
			<-r.Context().Done() // held until the server stops
			return
		}
		br.B.API().ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go front.Serve(ln)
	c, err := client.New(client.Options{BaseURL: "http://" + ln.Addr().String(), AgentID: "alice", AgentKey: br.Key("alice", false)})
	if err != nil {
		t.Fatal(err)
	}
	a := connect(t, mcpserver.Options{Client: c})
	ok[api.EventStoreResponse](a, "event_store", m{"event_type": "note", "data": 1}) // a session first
	go func() {
		<-arrived
		front.Close() // the Bridge stops: its connections close
		br.Stop()
	}()
	t0 := time.Now()
	msg := a.fails("validate_command", m{"tool_name": "Bash", "tool_input": m{"command": "make"}})
	if !strings.Contains(msg, "the Bridge cannot be reached") || time.Since(t0) > 10*time.Second {
		t.Fatalf("mid-call stop after %v: %s", time.Since(t0), msg)
	}
	t0 = time.Now()
	if msg := a.fails("bridge_status", m{}); !strings.Contains(msg, "cannot be reached") || time.Since(t0) > 10*time.Second {
		t.Fatalf("after the stop, %v: %s", time.Since(t0), msg)
	}
}

// TestUnconfiguredServerAnswersWithTheError: without a client every tool
// answers the configuration error, naming the variable.
func TestUnconfiguredServerAnswersWithTheError(t *testing.T) {
	a := connect(t, mcpserver.Options{ConfigErr: errors.New("LIGHTHOUSE_AGENT_KEY is required")})
	if msg := a.fails("bridge_status", m{}); !strings.Contains(msg, "LIGHTHOUSE_AGENT_KEY is required") {
		t.Fatalf("%s", msg)
	}
	if _, err := a.cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "lighthouse://shadow/a"}); err == nil || !strings.Contains(err.Error(), "LIGHTHOUSE_AGENT_KEY") {
		t.Fatalf("resource: %v", err)
	}
}
