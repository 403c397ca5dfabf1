package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/lighthouse-project/lighthouse/bridge/server/servertest"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hook"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hostenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds lighthouse-mcp once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lighthouse-mcp-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lighthouse-mcp")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, binPath)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && buildErr == nil {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// agentEnv is the environment an agent gives lighthouse-mcp.
func agentEnv(br *servertest.Bridge, agent string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		hostenv.EnvBridgeURL + "=" + br.URL,
		hostenv.EnvAgentID + "=" + agent,
		hostenv.EnvAgentKey + "=" + br.Key(agent, false),
	}, extra...)
}

// TestServeOverTheCommandTransport runs the built binary as an agent
// does: the SDK's client starts it and speaks MCP over its stdin/stdout.
func TestServeOverTheCommandTransport(t *testing.T) {
	bin := binary(t)
	br := servertest.Start(t, servertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(bin, "serve")
	cmd.Env = agentEnv(br, "builder-1")
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if cs.InitializeResult().ServerInfo.Name != "lighthouse-mcp" {
		t.Fatalf("server %+v", cs.InitializeResult().ServerInfo)
	}
	call := func(name string, args any) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	if res := call("shadow_write", map[string]any{"path": "cmd/x/main.go", "content": "package main\n"}); res.IsError {
		t.Fatalf("write: %+v", res.Content)
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "lighthouse://shadow/cmd/x/main.go"})
	if err != nil || res.Contents[0].Text != "package main\n" {
		t.Fatalf("resource %+v %v", res, err)
	}
	res2 := call("validate_command", map[string]any{"tool_name": "Bash", "tool_input": map[string]any{"command": "rm -rf /"}})
	b, _ := json.Marshal(res2.StructuredContent)
	if res2.IsError || !strings.Contains(string(b), `"decision":"blocked"`) {
		t.Fatalf("validate: %s", b)
	}
}

// TestServeWithoutConfiguration: every tool answers the missing
// variables, and stderr says so at start; nothing hangs.
func TestServeWithoutConfiguration(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), hostenv.EnvBridgeURL + "=http://127.0.0.1:1"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "bridge_status", Arguments: map[string]any{}})
	if err != nil || !res.IsError {
		t.Fatalf("%+v %v", res, err)
	}
	msg := res.Content[0].(*mcp.TextContent).Text
	if !strings.Contains(msg, hostenv.EnvAgentID+" is required") || !strings.Contains(msg, hostenv.EnvAgentKey+" is required") {
		t.Fatalf("tool error %q", msg)
	}
	cs.Close()
	if !strings.Contains(stderr.String(), "not configured") {
		t.Fatalf("stderr %q", stderr.String())
	}
}

// runHook runs `lighthouse-mcp hook pre-tool-use` with the recorded input
// and returns its decision; the hook always exits 0.
func runHook(t *testing.T, env []string, input string) hook.SpecificOutput {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("internal", "hook", "testdata", input))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "hook", "pre-tool-use")
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: exit %v\n%s", input, err, stderr.String())
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("%s: the hook took %v", input, d)
	}
	var out hook.Output
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s: output %q: %v", input, stdout.String(), err)
	}
	return out.HookSpecificOutput
}

// TestHookEndToEnd: the built hook with recorded inputs against a real
// Bridge (a dangerous command denied with its reasoning, a safe one
// allowed), a Bridge that does not answer (deny by default, the
// operator's choice otherwise), and no configuration (deny).
func TestHookEndToEnd(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	env := agentEnv(br, "builder-1")
	if o := runHook(t, env, "bash_dangerous.json"); o.PermissionDecision != "deny" || !strings.Contains(o.PermissionDecisionReason, "dangerous command") {
		t.Fatalf("rm -rf /: %+v", o)
	}
	if o := runHook(t, env, "bash_safe.json"); o.PermissionDecision != "allow" || o.HookEventName != "PreToolUse" {
		t.Fatalf("ls: %+v", o)
	}
	if o := runHook(t, env, "malformed.json"); o.PermissionDecision != "deny" {
		t.Fatalf("malformed: %+v", o)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	down := []string{"PATH=" + os.Getenv("PATH"), hostenv.EnvBridgeURL + "=" + gone, hostenv.EnvAgentID + "=builder-1",
		hostenv.EnvAgentKey + "=" + br.Key("builder-1", false), hostenv.EnvTimeout + "=2s"}
	if o := runHook(t, down, "bash_safe.json"); o.PermissionDecision != "deny" || !strings.Contains(o.PermissionDecisionReason, "could not decide") {
		t.Fatalf("unreachable: %+v", o)
	}
	if o := runHook(t, append(down, hostenv.EnvHookUnreachable+"=ask"), "bash_safe.json"); o.PermissionDecision != "ask" {
		t.Fatalf("unreachable, ask: %+v", o)
	}
	if o := runHook(t, []string{"PATH=" + os.Getenv("PATH")}, "bash_safe.json"); o.PermissionDecision != "deny" || !strings.Contains(o.PermissionDecisionReason, hostenv.EnvBridgeURL) {
		t.Fatalf("unconfigured: %+v", o)
	}
	if o := runHook(t, append(env, hostenv.EnvHookUnreachable+"=sometimes"), "bash_safe.json"); o.PermissionDecision != "deny" {
		t.Fatalf("a bad policy: %+v", o)
	}
}

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd(func(k string) string { return env[k] })
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCheck(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	env := map[string]string{hostenv.EnvBridgeURL: br.URL, hostenv.EnvAgentID: "builder-1", hostenv.EnvAgentKey: br.Key("builder-1", false)}
	if out, err := run(t, env, "check"); err != nil || !strings.HasPrefix(out, "ok: agent builder-1") {
		t.Fatalf("check: %q %v", out, err)
	}
	env[hostenv.EnvAgentKey] = br.Key("someone-else", false)
	if _, err := run(t, env, "check"); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "agent_key is not the key") {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := run(t, map[string]string{}, "check"); err == nil || !strings.Contains(err.Error(), hostenv.EnvBridgeURL+" is required") {
		t.Fatalf("no configuration: %v", err)
	}
	if out, err := run(t, nil, "version"); err != nil || !strings.HasPrefix(out, "lighthouse-mcp ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

// TestHookFailuresExit2: a hook command that fails for any reason exits
// 2, which Claude Code treats as a block; other commands exit 1.
func TestHookFailuresExit2(t *testing.T) {
	bin := binary(t)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"hook", "pre-tool-us"}, 2},
		{[]string{"hook", "pre-tool-use", "--nope"}, 2},
		{[]string{"hook"}, 2},
		{[]string{"check"}, 1},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		cmd.Stdin = strings.NewReader("{}")
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.want {
			t.Errorf("%v: %v, want exit status %d", tc.args, err, tc.want)
		}
	}
}

// TestServeWithAWrongKeySaysSoAtStart: the Bridge's 401 is on stderr at
// start, and every tool answers it.
func TestServeWithAWrongKeySaysSoAtStart(t *testing.T) {
	bin := binary(t)
	br := servertest.Start(t, servertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), hostenv.EnvBridgeURL + "=" + br.URL, hostenv.EnvAgentID + "=builder-1",
		hostenv.EnvAgentKey + "=" + br.Key("someone-else", false)}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "task_list", Arguments: map[string]any{}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "401") {
		t.Fatalf("%+v %v", res, err)
	}
	waitFor := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "agent_key is not the key of agent") {
		if time.Now().After(waitFor) {
			t.Fatalf("stderr %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
