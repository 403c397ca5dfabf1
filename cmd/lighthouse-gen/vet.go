package main

import (
	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/gen/build"
)

const vetLong = `vet validates the spec against the schema and runs every check and emitter,
writing nothing. It prints every error with its position and exits 1.`

func newVetCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:   "vet",
		Short: "Validate a spec, writing nothing",
		Long:  vetLong,
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, _, err := build.Generate(f.options())
			return err
		},
	}
}
