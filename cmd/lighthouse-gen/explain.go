package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/gen/explain"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

const explainLong = `explain shows, for each field of the spec (or for FIELD and the fields
below it, e.g. "env" or "workload.restart"; a * stands for any map key, as
in 'volumes.*.size'), how each artifact expresses it:

  exact            the artifact says the same thing
  approximated     it says something close; the line says what
  not expressible  it cannot say it: build and vet fail until the spec's
                   omit says how that target handles it, e.g.
                   omit: "workload.restart": kubernetes: "<reason>"
  omitted          not expressible, and the spec's omit says why
  n/a              not this artifact's concern (another one carries it)

Nothing is dropped silently: every field appears with all four artifacts.

Examples:
  lighthouse-gen explain
  lighthouse-gen explain workload.restart --spec golden/notes/spec
  lighthouse-gen explain 'volumes.*.size' --spec golden/notes/spec`

func newExplainCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:   "explain [FIELD]",
		Short: "Show how each artifact expresses each spec field",
		Long:  explainLong,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := spec.Load(spec.Options{Dir: f.spec, Tags: f.tags})
			if err != nil {
				return err
			}
			field := ""
			if len(args) == 1 {
				field = args[0]
			}
			rows := explain.Select(explain.Rows(s), field)
			if len(rows) == 0 {
				return fmt.Errorf("no spec field %s (lighthouse-gen explain lists them all)", field)
			}
			return explain.Write(cmd.OutOrStdout(), rows)
		},
	}
}
