package main

import (
	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
)

const rootLong = `lighthouse-bridge is the coordination hub of the lighthouse agents: it
validates the commands builders want to run, keeps a durable event log,
and authenticates every agent.

Configuration comes from the environment only:
  LIGHTHOUSE_HOST, LIGHTHOUSE_PORT, LIGHTHOUSE_LOG_LEVEL,
  LIGHTHOUSE_EVENT_STORE_PATH, LIGHTHOUSE_SNAPSHOT_PATH,
  LIGHTHOUSE_MOUNT_POINT, LIGHTHOUSE_AUTH_SECRET`

// newRootCmd builds a fresh command tree reading the environment through
// getenv, so tests run commands without touching the process environment.
func newRootCmd(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:           "lighthouse-bridge",
		Short:         "The lighthouse Bridge: HTTP coordination service with a durable event log",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(getenv),
		newHealthcheckCmd(getenv),
		newTokenCmd(getenv),
		newCheckCmd(getenv),
		version.NewCommand("lighthouse-bridge"),
	)
	return root
}
