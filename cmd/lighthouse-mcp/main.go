// Command lighthouse-mcp is the host side of the lighthouse agents: the
// MCP server an agent (Claude Code) runs on its host to reach the
// Bridge, and the agent's PreToolUse hook. It is never part of the
// Bridge's image. See internal/mcpserver and internal/hook.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd(os.Getenv)
	cmd, err := root.ExecuteContextC(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lighthouse-mcp:", err)
		os.Exit(exitCode(cmd, err))
	}
}

// exitCode is 2 for every failure of a hook: Claude Code blocks the tool
// call on exit status 2 and lets it through on any other failure, so a
// hook that cannot answer (a mistyped subcommand, stdout closed) must
// fail closed.
func exitCode(cmd *cobra.Command, err error) int {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Name() == "hook" {
			return 2
		}
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
