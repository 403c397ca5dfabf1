package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
	"github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/hostenv"
)

const checkLong = `Check the configuration: read the variables, create a session with the
agent's key and read the Bridge's status. Exit 0 when the agent can work
with the Bridge; otherwise print what is wrong and exit 1.`

func newCheckCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check the configuration against the Bridge",
		Long:  checkLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := hostenv.Load(getenv)
			if err != nil {
				return err
			}
			c, err := cfg.Client("lighthouse-mcp/" + version.Version)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*cfg.Timeout)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				return fmt.Errorf("%s as agent %s: %w", cfg.BridgeURL, cfg.AgentID, err)
			}
			ns := c.Session()
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: agent %s (admin %v) on %s, bridge %s, mode %s, last sequence %d\n",
				ns.AgentID, ns.Admin, cfg.BridgeURL, st.Status, st.Mode, st.LastSequence)
			return nil
		},
	}
}
