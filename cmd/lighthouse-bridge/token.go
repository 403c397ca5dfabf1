package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/config"
)

const tokenLong = `Print the key of agent ID alone on stdout: HMAC-SHA256 of the ID keyed
with LIGHTHOUSE_AUTH_SECRET (the only variable it reads). With --role admin
the key's sessions may call /admin/* routes. The agent trades the key for a
session token at POST /session/create.

Example:
  lighthouse-bridge token --agent builder-1
  lighthouse-bridge token --agent operator --role admin`

func newTokenCmd(getenv func(string) string) *cobra.Command {
	var agent, role string
	cmd := &cobra.Command{
		Use:   "token --agent ID [--role admin]",
		Short: "Print an agent's key",
		Long:  tokenLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if agent == "" {
				return fmt.Errorf("--agent is required")
			}
			if role != "agent" && role != "admin" {
				return fmt.Errorf("--role must be agent or admin, got %q", role)
			}
			secret, err := config.LoadSecret(getenv)
			if err != nil {
				return err
			}
			key, err := auth.AgentKey(secret, agent, role == "admin")
			if err != nil {
				return fmt.Errorf("--agent %q: %w", agent, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			return nil
		},
	}
	cmd.Flags().StringVar(&agent, "agent", "", "agent id (letters, digits, '.', '_', '-')")
	cmd.Flags().StringVar(&role, "role", "agent", "agent or admin")
	return cmd
}
