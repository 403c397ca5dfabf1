// Package validate decides whether a builder may run a tool call. Fixed
// rules settle the clear cases (system paths and dangerous commands are
// blocked, read-only commands and tools approved); everything else is
// escalated to an expert through the Escalator seam and, when no expert
// answers in time, gets the safe default. Shell commands are read with a
// real shell parser (mvdan.cc/sh), so quoting and chaining cannot smuggle
// a command past a prefix check.
package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sync/atomic"
	"time"
)

// Decisions.
const (
	Approved = "approved"
	Blocked  = "blocked"
	Escalate = "escalate"
)

// Risk levels reported in metadata.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// Rules that produced a decision (Decision.Rule).
const (
	RuleSystemPath   = "system_path"
	RuleDangerous    = "dangerous_command"
	RuleSafeShell    = "safe_shell_command"
	RuleReadOnlyTool = "read_only_tool"
	RuleSafeDefault  = "safe_default"
	RuleExpert       = "expert"
)

// Request is one tool call to judge.
type Request struct {
	ToolName  string          `json:"tool_name"`
	ToolInput json.RawMessage `json:"tool_input"`
	AgentID   string          `json:"agent_id,omitempty"`
}

// Decision is the verdict on a Request.
type Decision struct {
	Decision       string  `json:"decision"`
	Reasoning      string  `json:"reasoning"`
	Confidence     float64 `json:"confidence"`
	RiskLevel      string  `json:"risk_level"`
	ExpertRequired bool    `json:"expert_required"`
	Rule           string  `json:"rule"`
	Expert         string  `json:"expert,omitempty"` // who decided, for RuleExpert
}

// Escalator routes a request the rules cannot settle to an expert with the
// needed capability. The coordination package implements it. ok is false
// when no such expert is registered, and the safe default applies at once;
// Escalate must honour ctx, whose deadline is the time the expert has.
type Escalator interface {
	Escalate(ctx context.Context, req Request, capability string) (d Decision, ok bool, err error)
}

// Options configure a Validator.
type Options struct {
	// Escalator is nil until coordination exists: then every escalation
	// gets the safe default immediately.
	Escalator Escalator
	// EscalationTimeout bounds the wait for an expert. Default 30s.
	EscalationTimeout time.Duration
}

// Validator applies the rules, then the escalation.
type Validator struct {
	opts      Options
	escalator atomic.Pointer[escalatorBox]
	pending   atomic.Int64
}

type escalatorBox struct{ e Escalator }

// SetEscalator installs (or, with nil, removes) the expert escalation: the
// coordination step calls it once experts can be reached.
func (v *Validator) SetEscalator(e Escalator) {
	if e == nil {
		v.escalator.Store(nil)
		return
	}
	v.escalator.Store(&escalatorBox{e})
}

// New returns a Validator.
func New(opts Options) *Validator {
	if opts.EscalationTimeout <= 0 {
		opts.EscalationTimeout = 30 * time.Second
	}
	v := &Validator{opts: opts}
	v.SetEscalator(opts.Escalator)
	return v
}

// Pending is the number of validations waiting for an expert now.
func (v *Validator) Pending() int { return int(v.pending.Load()) }

// Validate judges req. It always returns a decision: failures of the
// escalation fall back to the safe default.
func (v *Validator) Validate(ctx context.Context, req Request) Decision {
	if d, ok := Rules(req); ok {
		return d
	}
	capability := NeededCapability(req)
	if box := v.escalator.Load(); box != nil {
		v.pending.Add(1)
		ectx, cancel := context.WithTimeout(ctx, v.opts.EscalationTimeout)
		d, ok, err := box.e.Escalate(ectx, req, capability)
		cancel()
		v.pending.Add(-1)
		if err == nil && ok && (d.Decision == Approved || d.Decision == Blocked || d.Decision == Escalate) {
			d.ExpertRequired = true
			if d.Rule == "" {
				d.Rule = RuleExpert
			}
			return d
		}
		why := "no " + capability + " expert is available"
		if err != nil {
			why = fmt.Sprintf("the %s expert did not answer: %v", capability, err)
			if errors.Is(err, context.DeadlineExceeded) {
				why = fmt.Sprintf("no %s expert answered within %s", capability, v.opts.EscalationTimeout)
			}
		}
		return SafeDefault(req, why)
	}
	return SafeDefault(req, "no "+capability+" expert is available")
}

// NeededCapability is the expert capability an escalated request needs.
func NeededCapability(req Request) string {
	return "security"
}

// readOnlyTools never change anything.
var readOnlyTools = map[string]bool{
	"Read": true, "Glob": true, "Grep": true, "LS": true, "WebFetch": true, "WebSearch": true,
}

// writeTools change files; their target path is checked against system paths.
var writeTools = map[string]bool{
	"Write": true, "Edit": true, "MultiEdit": true, "NotebookEdit": true,
}

// SafeDefault is the decision when no expert decides: read-only tools are
// allowed, everything else (Bash, Write, Edit, MultiEdit and any tool the
// Bridge does not know) is blocked. Failing closed is the point.
func SafeDefault(req Request, why string) Decision {
	if readOnlyTools[req.ToolName] {
		return Decision{Decision: Approved, Reasoning: "read-only tool allowed by the safe default: " + why,
			Confidence: 0.9, RiskLevel: RiskLow, ExpertRequired: true, Rule: RuleSafeDefault}
	}
	return Decision{Decision: Blocked, Reasoning: fmt.Sprintf("%s needs expert review and %s; the safe default blocks it", toolLabel(req.ToolName), why),
		Confidence: 0.5, RiskLevel: RiskMedium, ExpertRequired: true, Rule: RuleSafeDefault}
}

func toolLabel(name string) string {
	if name == "" {
		return "the tool call"
	}
	return name
}

// Rules applies the fixed rules in the contract's order. ok is false when
// none settles the request and it must be escalated.
func Rules(req Request) (Decision, bool) {
	in := decodeInput(req.ToolInput)
	if writeTools[req.ToolName] {
		for _, p := range in.paths {
			if sp, ok := systemPath(p); ok {
				return Decision{Decision: Blocked, Reasoning: fmt.Sprintf("%s writes to the system path %s", req.ToolName, sp),
					Confidence: 1, RiskLevel: RiskHigh, Rule: RuleSystemPath}, true
			}
		}
	}
	if req.ToolName == "Bash" {
		if in.command == "" {
			return Decision{}, false
		}
		sh := analyzeShell(in.command)
		if sh.systemPath != "" {
			return Decision{Decision: Blocked, Reasoning: "the command touches the system path " + sh.systemPath,
				Confidence: 1, RiskLevel: RiskHigh, Rule: RuleSystemPath}, true
		}
		if sh.dangerous != "" {
			return Decision{Decision: Blocked, Reasoning: "dangerous command: " + sh.dangerous,
				Confidence: 1, RiskLevel: RiskHigh, Rule: RuleDangerous}, true
		}
		if sh.safe {
			return Decision{Decision: Approved, Reasoning: "read-only shell command",
				Confidence: 0.95, RiskLevel: RiskLow, Rule: RuleSafeShell}, true
		}
		return Decision{}, false
	}
	if readOnlyTools[req.ToolName] {
		return Decision{Decision: Approved, Reasoning: req.ToolName + " is a read-only tool",
			Confidence: 1, RiskLevel: RiskLow, Rule: RuleReadOnlyTool}, true
	}
	return Decision{}, false
}

type input struct {
	command string
	paths   []string
}

// decodeInput finds the command and target paths in a tool input, which
// is an object ({"command": ...}, {"file_path": ...}) or, from older
// hooks, a bare command string.
func decodeInput(raw json.RawMessage) input {
	var in input
	var s string
	if json.Unmarshal(raw, &s) == nil {
		in.command = s
		return in
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return in
	}
	if c, ok := m["command"].(string); ok {
		in.command = c
	}
	for _, k := range []string{"file_path", "path", "notebook_path"} {
		if p, ok := m[k].(string); ok {
			in.paths = append(in.paths, p)
		}
	}
	return in
}

// systemRoots are the directories no builder may write, and no shell
// command may touch.
var systemRoots = []string{"/etc", "/usr", "/var", "/boot", "/sys", "/proc", "/dev"}

// harmlessDevices are the /dev paths ordinary commands use.
var harmlessDevices = map[string]bool{"/dev/null": true, "/dev/stdin": true, "/dev/stdout": true, "/dev/stderr": true}

// systemPath reports whether p (cleaned) lies under a system root.
func systemPath(p string) (string, bool) {
	if p == "" || p[0] != '/' {
		return "", false
	}
	c := path.Clean(p)
	if harmlessDevices[c] {
		return "", false
	}
	for _, r := range systemRoots {
		if c == r || len(c) > len(r) && c[:len(r)] == r && c[len(r)] == '/' {
			return c, true
		}
	}
	return "", false
}
