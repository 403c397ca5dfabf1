package main

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hostenv"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/mcpserver"
)

const serveLong = `Serve the Bridge's routes as MCP tools (and its shadow files as resources)
on stdin and stdout, for the agent that started it. A missing or invalid
variable is reported on stderr at start, and every tool then answers with
that error, so the agent sees it too; "lighthouse-mcp check" checks the
configuration against the Bridge before an agent uses it.`

func newServeCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve MCP on stdin/stdout",
		Long:  serveLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := mcpserver.Options{Version: version.Version}
			cfg, err := hostenv.Load(getenv)
			if err == nil {
				o.Client, err = cfg.Client("lighthouse-mcp/" + version.Version)
			}
			if err != nil {
				o.ConfigErr = err
				fmt.Fprintf(cmd.ErrOrStderr(), "lighthouse-mcp: not configured, every tool will answer so: %v\n", err)
			} else {
				// A wrong key or an absent Bridge is said at start too,
				// without holding up the agent's handshake; the tools
				// answer the same error when called.
				go func() {
					ctx, cancel := context.WithTimeout(cmd.Context(), cfg.Timeout)
					defer cancel()
					if err := o.Client.Connect(ctx); err != nil && cmd.Context().Err() == nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "lighthouse-mcp: warning: no session with the Bridge yet: %v\n", err)
					}
				}()
			}
			return mcpserver.New(o).Run(cmd.Context(), &mcp.StdioTransport{})
		},
	}
}
