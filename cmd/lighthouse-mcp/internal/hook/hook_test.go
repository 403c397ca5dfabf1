package hook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/server/servertest"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hook"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hostenv"
)

func input(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func decide(t *testing.T, in []byte, v hook.Validator, p hook.Policy) *hook.Output {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return hook.Decide(ctx, bytes.NewReader(in), v, nil, p)
}

func want(t *testing.T, name string, out *hook.Output, decision, reason string) {
	t.Helper()
	if out == nil {
		t.Fatalf("%s: no decision, want %s", name, decision)
	}
	o := out.HookSpecificOutput
	if o.HookEventName != "PreToolUse" || o.PermissionDecision != decision || !strings.Contains(o.PermissionDecisionReason, reason) {
		t.Fatalf("%s: %+v, want %s with %q", name, o, decision, reason)
	}
}

// TestRecordedInputsAgainstARealBridge: recorded hook inputs, decided by
// a real Bridge (no expert registered): safe and read-only calls are
// allowed, a dangerous command and a write to a system path denied with
// the Bridge's reasoning, an Edit the rules do not settle denied by the
// safe default, and every input the hook cannot read denied.
func TestRecordedInputsAgainstARealBridge(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	c := br.Client("builder-1", false)
	p := hook.Policy{Unreachable: hook.Deny}
	for _, tc := range []struct{ file, decision, reason string }{
		{"bash_safe.json", hook.Allow, "read-only shell command"},
		{"read_unknown_fields.json", hook.Allow, "Read is a read-only tool"},
		{"bash_dangerous.json", hook.Deny, "dangerous command"},
		{"write_system_path.json", hook.Deny, "system path /etc/sudoers.d/agent"},
		{"edit.json", hook.Deny, "the safe default blocks it"},
		{"mcp_tool.json", hook.Deny, "the safe default blocks it"},
		{"malformed.json", hook.Deny, "not a JSON object"},
		{"post_tool_use.json", hook.Deny, `of event "PostToolUse"`},
		{"tool_input_string.json", hook.Deny, "tool_input of \"Bash\" is not a JSON object"},
		{"two_objects.json", hook.Deny, "data after its JSON object"},
	} {
		want(t, tc.file, decide(t, input(t, tc.file), c, p), tc.decision, tc.reason)
	}
	// Each decision is the Bridge's: recorded as an event of the agent.
	q, err := c.QueryEvents(context.Background(), api.EventQuery{EventType: api.EventValidationDecision})
	if err != nil || q.Count != 6 {
		t.Fatalf("decisions recorded: %d %v", q.Count, err)
	}
}

// TestOversizedInputIsDeniedUnread: an input past MaxInputBytes is denied
// without asking the Bridge, and without reading past the bound.
func TestOversizedInputIsDeniedUnread(t *testing.T) {
	var in bytes.Buffer
	in.WriteString(`{"hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"file_path":"/home/dev/app/a","content":"`)
	in.Write(bytes.Repeat([]byte("a"), hook.MaxInputBytes))
	in.WriteString(`"}}`)
	r := &countingReader{r: io.MultiReader(&in, endlessReader{})}
	out := hook.Decide(context.Background(), r, failingValidator{t}, nil, hook.Policy{Unreachable: hook.Allow})
	want(t, "oversized", out, hook.Deny, "larger than")
	if r.n > hook.MaxInputBytes+1 {
		t.Fatalf("read %d bytes", r.n)
	}
	// Just under the hook's bound, the Bridge refuses a body over 1 MiB:
	// denied with its 413, not allowed by the unreachable policy.
	br := servertest.Start(t, servertest.Options{})
	big := `{"hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"file_path":"/home/dev/app/a","content":"` + strings.Repeat("a", 2<<20) + `"}}`
	out = hook.Decide(context.Background(), strings.NewReader(big), br.Client("a", false), nil, hook.Policy{Unreachable: hook.Allow})
	want(t, "2 MiB", out, hook.Deny, "413")
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type endlessReader struct{}

func (endlessReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

type failingValidator struct{ t *testing.T }

func (f failingValidator) Validate(context.Context, api.ValidateRequest) (api.ValidateResponse, error) {
	f.t.Fatal("the Bridge was asked")
	return api.ValidateResponse{}, nil
}

type fixed struct {
	d   api.ValidateResponse
	err error
}

func (f fixed) Validate(context.Context, api.ValidateRequest) (api.ValidateResponse, error) {
	return f.d, f.err
}

// TestDecisionsMapOneToOne: approved is allow, blocked deny, escalate
// ask; anything else, or a contradiction, is deny.
func TestDecisionsMapOneToOne(t *testing.T) {
	in := input(t, "bash_safe.json")
	p := hook.Policy{Unreachable: hook.Allow}
	for _, tc := range []struct {
		d    api.ValidateResponse
		want string
	}{
		{api.ValidateResponse{Approved: true, Decision: "approved"}, hook.Allow},
		{api.ValidateResponse{Decision: "blocked"}, hook.Deny},
		{api.ValidateResponse{Decision: "escalate"}, hook.Ask},
		{api.ValidateResponse{Approved: true, Decision: "blocked"}, hook.Deny},
		{api.ValidateResponse{Approved: true, Decision: "escalate"}, hook.Deny},
		{api.ValidateResponse{Decision: "approved"}, hook.Deny},
		{api.ValidateResponse{Approved: true, Decision: "yes"}, hook.Deny},
		{api.ValidateResponse{}, hook.Deny},
	} {
		want(t, tc.d.Decision, decide(t, in, fixed{d: tc.d}, p), tc.want, "")
	}
}

// TestUnreachableBridge: no answer, or 429/502/503/504, follows the
// policy (deny by default); a refusal is always deny.
func TestUnreachableBridge(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	pol, err := hook.LoadPolicy(env())
	if err != nil || pol.Unreachable != hook.Deny {
		t.Fatalf("default policy %+v %v", pol, err)
	}
	c, err := client.New(client.Options{BaseURL: url, AgentID: "a", AgentKey: strings.Repeat("ab", 32), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	in := input(t, "bash_safe.json")
	want(t, "refused connection", decide(t, in, c, pol), hook.Deny, "could not decide")
	for _, choice := range []string{hook.Ask, hook.Allow, hook.Deny} {
		pol, err := hook.LoadPolicy(env(hostenv.EnvHookUnreachable, choice))
		if err != nil {
			t.Fatal(err)
		}
		want(t, choice, decide(t, in, c, pol), choice, "LIGHTHOUSE_HOOK_UNREACHABLE="+choice)
		for _, status := range []int{429, 502, 503, 504} {
			want(t, "status", decide(t, in, fixed{err: &client.Error{Status: status}}, pol), choice, "could not decide")
		}
		want(t, "401", decide(t, in, fixed{err: &client.Error{Status: 401, Message: "agent_key is not the key"}}, pol), hook.Deny, "agent_key is not the key")
		want(t, "other", decide(t, in, fixed{err: errors.New("odd")}, pol), choice, "odd")
	}
	if _, err := hook.LoadPolicy(env(hostenv.EnvHookUnreachable, "maybe")); err == nil {
		t.Fatal("an unknown choice was taken")
	}
	// Misconfigured: denied, naming the variable, whatever the policy.
	_, cfgErr := hostenv.Load(env())
	out := hook.Decide(context.Background(), bytes.NewReader(in), nil, cfgErr, hook.Policy{Unreachable: hook.Allow})
	want(t, "unconfigured", out, hook.Deny, hostenv.EnvBridgeURL+" is required")
}

// TestSkippedToolsAreLeftToClaudeCode: the hook abstains on the tools
// the operator named, and only on those.
func TestSkippedToolsAreLeftToClaudeCode(t *testing.T) {
	p, err := hook.LoadPolicy(env(hostenv.EnvHookSkipTools, " mcp__lighthouse__* , mcp__other__read"))
	if err != nil {
		t.Fatal(err)
	}
	if out := decide(t, input(t, "mcp_tool.json"), failingValidator{t}, p); out != nil {
		t.Fatalf("a skipped tool got %+v", out)
	}
	want(t, "not skipped", decide(t, input(t, "bash_dangerous.json"), fixed{d: api.ValidateResponse{Decision: "blocked"}}, p), hook.Deny, "")
	for _, bad := range []string{"*", "mcp*x*", "a,*", "Bash", "B*", "mcp__*", "mcp__lighthouse", "mcp__lighthouse__", "mcp__lighthouse__a*", "mcp____x", "mcp__a__*x*"} {
		if _, err := hook.LoadPolicy(env(hostenv.EnvHookSkipTools, bad)); err == nil {
			t.Errorf("skip list %q taken", bad)
		}
	}
}

// TestOutputIsTheDocumentedShape: the exact JSON Claude Code reads.
func TestOutputIsTheDocumentedShape(t *testing.T) {
	out := decide(t, input(t, "bash_safe.json"), fixed{d: api.ValidateResponse{Decision: "blocked", Reasoning: "no"}}, hook.Policy{})
	b, _ := json.Marshal(out)
	var got map[string]map[string]string
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 1 || len(got["hookSpecificOutput"]) != 3 ||
		got["hookSpecificOutput"]["hookEventName"] != "PreToolUse" || got["hookSpecificOutput"]["permissionDecision"] != "deny" {
		t.Fatalf("%s", b)
	}
}

// FuzzReadInput: no input panics the reader, and whatever it accepts
// names a tool and carries an object as tool_input.
func FuzzReadInput(f *testing.F) {
	for _, name := range []string{"bash_safe.json", "edit.json", "malformed.json", "two_objects.json", "tool_input_string.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := hook.ReadInput(bytes.NewReader(b))
		if err != nil {
			return
		}
		var obj map[string]json.RawMessage
		if in.ToolName == "" || json.Unmarshal(in.ToolInput, &obj) != nil {
			t.Fatalf("accepted %q: %+v", b, in)
		}
	})
}

type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

// TestInputThatNeverEndsIsDenied: stdin left open is denied when the
// hook's time is up, before Claude Code's own timeout lets the call pass.
func TestInputThatNeverEndsIsDenied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	out := hook.Decide(ctx, io.MultiReader(strings.NewReader(`{"tool_name":"Bash",`), blockingReader{}), failingValidator{t}, nil, hook.Policy{Unreachable: hook.Allow})
	want(t, "open stdin", out, hook.Deny, "did not end in time")
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}
