package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hook"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hostenv"
)

const hookLong = `Claude Code's PreToolUse hook: read the hook input (JSON) on stdin, ask
the Bridge's /validate about the tool call, and print the decision as the
hook's JSON output (allow, deny or ask, with the Bridge's reasoning). It
exits 0 with a decision; whatever it cannot read or decide is denied, a
failure of the command itself exits 2 (Claude Code blocks the call), and when the Bridge cannot decide, LIGHTHOUSE_HOOK_UNREACHABLE says
what to answer (deny by default). See internal/hook for every rule.

Install it in .claude/settings.json:
  {"hooks": {"PreToolUse": [{"matcher": "*",
    "hooks": [{"type": "command", "command": "lighthouse-mcp hook pre-tool-use", "timeout": 60}]}]}}`

func newHookCmd(getenv func(string) string) *cobra.Command {
	h := &cobra.Command{
		Use:   "hook EVENT",
		Short: "Agent hooks",
		Args:  cobra.NoArgs,
		// Runnable, so that a missing or mistyped event is an error (exit
		// 2, a block), not the help text and exit 0.
		RunE: func(*cobra.Command, []string) error {
			return errors.New("name the hook's event: lighthouse-mcp hook pre-tool-use")
		},
	}
	h.AddCommand(&cobra.Command{
		Use:   "pre-tool-use",
		Short: "Decide a tool call with the Bridge (Claude Code PreToolUse hook)",
		Long:  hookLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cfgErr := hostenv.Load(getenv)
			var v hook.Validator
			if cfgErr == nil {
				c, err := cfg.Client("lighthouse-mcp-hook/" + version.Version)
				if err != nil {
					cfgErr = err
				} else {
					v = c
				}
			}
			p, err := hook.LoadPolicy(getenv)
			cfgErr = errors.Join(cfgErr, err)
			// The whole decision, session included, within the validate
			// bound: under Claude Code's hook timeout (60 s by default).
			ctx, cancel := context.WithTimeout(cmd.Context(), cfg.ValidateTimeout)
			defer cancel()
			out := hook.Decide(ctx, cmd.InOrStdin(), v, cfgErr, p)
			if out == nil {
				return nil // abstain: Claude Code's own rules decide
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
		},
	})
	return h
}
