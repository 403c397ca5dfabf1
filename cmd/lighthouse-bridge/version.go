package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "lighthouse-bridge", version.String())
			return nil
		},
	}
}
