package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/gen/build"
	"github.com/lighthouse-project/lighthouse/gen/emit"
)

const buildLong = `build writes every artifact of the spec into the output folder. Nothing is
written when the spec has an error.

With --check it writes nothing: it regenerates in memory and exits 1 with a
unified diff when the files in the output folder differ (for CI, like gofmt -l).

Examples:
  lighthouse-gen build
  lighthouse-gen build --check
  lighthouse-gen build --spec golden/notes/spec --out out/notes -t version=2.5.0`

func newBuildCmd(f *flags) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Write the artifacts of a spec (or check them with --check)",
		Long:  buildLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options()
			if err != nil {
				return err
			}
			s, files, err := build.Generate(o)
			if err != nil {
				return err
			}
			if check {
				d, err := build.Diff(o.Out, files)
				if err != nil {
					return err
				}
				if len(d) > 0 {
					cmd.OutOrStdout().Write(d)
					drift, err := build.Drift(o.Out, files, s.Digest)
					if err != nil {
						return err
					}
					for _, name := range emit.Names {
						if why, ok := drift[name]; ok {
							cmd.PrintErrf("lighthouse-gen: %s: %s\n", filepath.Join(o.Out, name), why)
						}
					}
					cmd.PrintErrf("lighthouse-gen: %s is not up to date; run lighthouse-gen build\n", o.Out)
					return errSilent
				}
				return nil
			}
			return build.Write(o.Out, files)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 with a diff when the output folder is not current")
	return cmd
}
