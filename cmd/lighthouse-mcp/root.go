package main

import (
	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
)

const rootLong = `lighthouse-mcp is the MCP server an agent runs on its host to reach the
lighthouse Bridge (stdio transport), and the agent's PreToolUse hook.

Configuration comes from the environment:
  LIGHTHOUSE_BRIDGE_URL        the Bridge, like http://127.0.0.1:8765 (required)
  LIGHTHOUSE_AGENT_ID          the agent's id (required)
  LIGHTHOUSE_AGENT_KEY         the key "lighthouse-bridge token --agent ID" prints (required)
  LIGHTHOUSE_BRIDGE_TIMEOUT    bound of each call to the Bridge (default 30s)
  LIGHTHOUSE_VALIDATE_TIMEOUT  bound of a /validate call (default 45s)
  LIGHTHOUSE_HOOK_UNREACHABLE  the hook's answer when the Bridge cannot decide: deny (default), ask, allow
  LIGHTHOUSE_HOOK_SKIP_TOOLS   MCP tools the hook leaves to Claude Code's own rules (mcp__SERVER__TOOL, mcp__SERVER__*)

Examples:
  lighthouse-mcp serve                  the MCP server on stdin/stdout
  lighthouse-mcp check                  check the configuration against the Bridge
  lighthouse-mcp hook pre-tool-use      the PreToolUse hook (input on stdin, decision on stdout)`

// newRootCmd builds a fresh command tree reading the environment through
// getenv, so tests run commands without touching the process environment.
func newRootCmd(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:           "lighthouse-mcp",
		Short:         "The lighthouse MCP server and agent hook, for an agent's host",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(getenv),
		newCheckCmd(getenv),
		newHookCmd(getenv),
		version.NewCommand("lighthouse-mcp"),
	)
	return root
}
