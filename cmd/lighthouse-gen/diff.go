package main

import (
	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/gen/build"
)

const diffLong = `diff prints, as a unified diff, what build would change in the output folder.
It exits 0 whether or not there are changes (build --check is the CI gate).`

func newDiffCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:   "diff",
		Short: "Show what build would change",
		Long:  diffLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options()
			if err != nil {
				return err
			}
			_, files, err := build.Generate(o)
			if err != nil {
				return err
			}
			d, err := build.Diff(o.Out, files)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(d)
			return err
		},
	}
}
