package version

import (
	"fmt"

	"github.com/spf13/cobra"
)

// NewCommand is the `version` subcommand both binaries share, so they report
// themselves the same way: "<program> <version> (<go version>)".
func NewCommand(program string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of " + program,
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), program, String())
		},
	}
}
