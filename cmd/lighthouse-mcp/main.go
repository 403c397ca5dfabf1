// Command lighthouse-mcp is the host side of the lighthouse agents: the
// MCP server an agent (Claude Code) runs on its host to reach the
// Bridge, and the agent's PreToolUse hook. It is never part of the
// Bridge's image. See host/mcpserver and host/hook.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd(os.Getenv)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lighthouse-mcp:", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
