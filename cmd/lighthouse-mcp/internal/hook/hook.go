// Package hook is Claude Code's PreToolUse hook for the Bridge
// (`lighthouse-mcp hook pre-tool-use`): it reads the hook's input, asks
// the Bridge's POST /validate whether the tool call may run, and answers
// with the hook's decision.
//
// The formats are Claude Code's, as its hooks reference documents them
// (https://code.claude.com/docs/en/hooks, "PreToolUse" input and
// "PreToolUse decision control"): the input is one JSON object on stdin
// with session_id, transcript_path, cwd, permission_mode,
// hook_event_name ("PreToolUse"), tool_name, tool_input and tool_use_id
// (more fields may come: they are ignored); the answer is exit status 0
// and, on stdout,
//
//	{"hookSpecificOutput":{"hookEventName":"PreToolUse",
//	  "permissionDecision":"allow"|"deny"|"ask","permissionDecisionReason":"..."}}
//
// where "deny" stops the call and shows the reason to the model, "ask"
// has the user confirm it, and "allow" lets it run without asking
// (Claude Code's own deny and ask rules still apply).
//
// The decisions, as a security engineer would have them:
//   - The Bridge is the one policy. Every tool call, whatever its tool,
//     is sent to /validate as it came (tool_name, tool_input): the hook
//     does not pre-judge, rewrite or drop fields, so what the Bridge
//     judges is what would run. The Bridge approves shell commands and
//     tools it knows to be read-only, blocks system paths and dangerous
//     commands, and asks an expert about everything else, blocking when
//     none answers (its safe default blocks tools it does not know).
//   - Its decisions map one to one: approved is allow, blocked is deny,
//     escalate is ask. Any other answer is deny.
//   - Everything the hook cannot read is deny: input that is not one JSON
//     object, larger than MaxInputBytes, of another event, without a
//     tool_name, or whose tool_input is not a JSON object; a missing or
//     invalid configuration; a refusal of the Bridge (a wrong key, a
//     tool_input over the Bridge's 1 MiB limit).
//   - The hook answers within LIGHTHOUSE_VALIDATE_TIMEOUT (input read,
//     session and /validate together), which must stay under the hook's
//     timeout in Claude Code's settings: a hook that times out, or exits
//     with a status other than 0 and 2, lets the call through. Every
//     error of the hook command itself exits 2, which Claude Code treats
//     as a block (cmd/lighthouse-mcp).
//   - When the Bridge cannot decide (no answer within the timeout, 429,
//     502, 503, 504) the answer is LIGHTHOUSE_HOOK_UNREACHABLE: deny by
//     default; ask or allow only when an operator chose them.
//   - LIGHTHOUSE_HOOK_SKIP_TOOLS names MCP tools the hook abstains on (no
//     output): Claude Code's own permission rules decide them. It grants
//     nothing itself; an empty list (the default) sends every tool. Only
//     MCP tools of a named server may be skipped (checkSkip): the tools
//     that act on the host always go to the Bridge.
package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/validate"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hostenv"
)

// MaxInputBytes bounds the hook's input. A tool_input the Bridge would
// accept is at most 1 MiB (its body limit); the rest of the input is
// small. Beyond this the call is denied unread.
const MaxInputBytes = 4 << 20

// Permission decisions of the hook's output.
const (
	Allow = "allow"
	Deny  = "deny"
	Ask   = "ask"
)

// EventName is the hook event this package answers.
const EventName = "PreToolUse"

// Input is Claude Code's PreToolUse hook input. Unknown fields are
// accepted (newer versions add them).
type Input struct {
	SessionID      string          `json:"session_id"`
	TranscriptPath string          `json:"transcript_path"`
	Cwd            string          `json:"cwd"`
	PermissionMode string          `json:"permission_mode"`
	HookEventName  string          `json:"hook_event_name"`
	ToolName       string          `json:"tool_name"`
	ToolInput      json.RawMessage `json:"tool_input"`
	ToolUseID      string          `json:"tool_use_id"`
}

// Output is the hook's answer on stdout.
type Output struct {
	HookSpecificOutput SpecificOutput `json:"hookSpecificOutput"`
}

// SpecificOutput is PreToolUse's decision.
type SpecificOutput struct {
	HookEventName            string `json:"hookEventName"`
	PermissionDecision       string `json:"permissionDecision"`
	PermissionDecisionReason string `json:"permissionDecisionReason"`
}

// Policy is the configuration of the hook beyond the Bridge's.
type Policy struct {
	// Unreachable is the decision when the Bridge cannot decide.
	Unreachable string
	// Skip are the tools the hook abstains on: exact names, or prefixes
	// ending in "*".
	Skip []string
}

// LoadPolicy reads LIGHTHOUSE_HOOK_UNREACHABLE and
// LIGHTHOUSE_HOOK_SKIP_TOOLS. An invalid value is an error (and the
// hook denies).
func LoadPolicy(getenv func(string) string) (Policy, error) {
	p := Policy{Unreachable: Deny}
	switch v := strings.TrimSpace(getenv(hostenv.EnvHookUnreachable)); v {
	case "":
	case Deny, Ask, Allow:
		p.Unreachable = v
	default:
		return Policy{Unreachable: Deny}, fmt.Errorf("%s must be deny, ask or allow, got %q", hostenv.EnvHookUnreachable, v)
	}
	for _, s := range strings.Split(getenv(hostenv.EnvHookSkipTools), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if err := checkSkip(s); err != nil {
			return Policy{Unreachable: Deny}, fmt.Errorf("%s: %q: %w", hostenv.EnvHookSkipTools, s, err)
		}
		p.Skip = append(p.Skip, s)
	}
	return p, nil
}

// checkSkip admits only MCP tools ("mcp__SERVER__TOOL") to the skip
// list, by name or by one server's prefix ("mcp__SERVER__*"): Claude
// Code's own tools (Bash, Write, Edit, ...) act on the host and always go
// to the Bridge, and a prefix spanning servers ("mcp__*") would let any
// MCP server added later pass unjudged.
func checkSkip(s string) error {
	name, prefix := strings.CutSuffix(s, "*")
	rest, ok := strings.CutPrefix(name, "mcp__")
	server, tool, hasTool := strings.Cut(rest, "__")
	switch {
	case !ok || server == "" || !hasTool:
		return errors.New("only MCP tools may be skipped, as mcp__SERVER__TOOL or mcp__SERVER__*; Claude Code's own tools always go to the Bridge")
	case strings.Contains(name, "*"), prefix && tool != "", !prefix && tool == "":
		return errors.New("name one tool, or one server's tools with a single trailing * (mcp__SERVER__*)")
	}
	return nil
}

func (p Policy) skips(tool string) bool {
	for _, s := range p.Skip {
		if pre, ok := strings.CutSuffix(s, "*"); ok && strings.HasPrefix(tool, pre) || s == tool {
			return true
		}
	}
	return false
}

// Validator is the Bridge's /validate (a *client.Client).
type Validator interface {
	Validate(context.Context, api.ValidateRequest) (api.ValidateResponse, error)
}

// Decide reads one hook input from r and returns the answer, nil when
// the hook abstains. v is nil when the configuration is invalid (cfgErr
// says why): every call is then denied.
func Decide(ctx context.Context, r io.Reader, v Validator, cfgErr error, p Policy) *Output {
	in, err := readInput(ctx, r)
	if err != nil {
		return deny("lighthouse hook: " + err.Error())
	}
	if p.skips(in.ToolName) {
		return nil
	}
	if v == nil || cfgErr != nil {
		msg := "not configured"
		if cfgErr != nil {
			msg = cfgErr.Error()
		}
		return deny("lighthouse hook: cannot ask the Bridge: " + msg)
	}
	d, err := v.Validate(ctx, api.ValidateRequest{ToolName: in.ToolName, ToolInput: in.ToolInput})
	if err != nil {
		return p.failed(err)
	}
	reason := fmt.Sprintf("lighthouse bridge: %s (rule %s, risk %s)", d.Reasoning, d.Metadata.Rule, d.Metadata.RiskLevel)
	switch {
	case d.Decision == validate.Approved && d.Approved:
		return decision(Allow, reason)
	case d.Decision == validate.Escalate && !d.Approved:
		return decision(Ask, reason)
	case d.Decision == validate.Blocked && !d.Approved:
		return decision(Deny, reason)
	}
	return deny(fmt.Sprintf("lighthouse hook: the Bridge answered decision %q, approved %v, which this hook does not know: denied", d.Decision, d.Approved))
}

// failed answers a /validate that gave no decision: the operator's choice
// when the Bridge could not decide, deny when it refused.
func (p Policy) failed(err error) *Output {
	var e *client.Error
	unreachable := !errors.As(err, &e)
	if e != nil {
		switch e.Status {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			unreachable = true
		}
	}
	if !unreachable {
		return deny("lighthouse hook: the Bridge refused to validate this call: " + err.Error())
	}
	why := fmt.Sprintf("the Bridge could not decide (%v); %s=%s", err, hostenv.EnvHookUnreachable, p.Unreachable)
	return decision(p.Unreachable, "lighthouse hook: "+why)
}

// readInput is ReadInput within ctx: an input that never ends (stdin
// left open) is denied when ctx ends, not waited for until Claude Code's
// own timeout, which would let the call through.
func readInput(ctx context.Context, r io.Reader) (Input, error) {
	type result struct {
		in  Input
		err error
	}
	ch := make(chan result, 1)
	go func() {
		in, err := ReadInput(r)
		ch <- result{in, err}
	}()
	select {
	case res := <-ch:
		return res.in, res.err
	case <-ctx.Done():
		return Input{}, fmt.Errorf("the hook input did not end in time: %w", ctx.Err())
	}
}

// ReadInput reads and checks one hook input: one JSON object of at most
// MaxInputBytes, of the PreToolUse event, naming a tool, whose tool_input
// is a JSON object.
func ReadInput(r io.Reader) (Input, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return Input{}, fmt.Errorf("reading the hook input: %w", err)
	}
	if len(b) > MaxInputBytes {
		return Input{}, fmt.Errorf("the hook input is larger than %d bytes: denied unread", MaxInputBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var in Input
	if err := dec.Decode(&in); err != nil {
		return Input{}, fmt.Errorf("the hook input is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Input{}, errors.New("the hook input has data after its JSON object")
	}
	switch {
	case in.HookEventName != "" && in.HookEventName != EventName:
		return Input{}, fmt.Errorf("the hook input is of event %s, not %s: install this hook under PreToolUse", clip(in.HookEventName), EventName)
	case in.ToolName == "":
		return Input{}, errors.New("the hook input names no tool_name")
	case len(bytes.TrimSpace(in.ToolInput)) == 0 || bytes.TrimSpace(in.ToolInput)[0] != '{':
		return Input{}, fmt.Errorf("the tool_input of %s is not a JSON object", clip(in.ToolName))
	}
	return in, nil
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func decision(d, reason string) *Output {
	return &Output{HookSpecificOutput: SpecificOutput{HookEventName: EventName, PermissionDecision: d, PermissionDecisionReason: reason}}
}

func deny(reason string) *Output { return decision(Deny, reason) }
