package main

import (
	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
	"github.com/lighthouse-project/lighthouse/gen/build"
)

const vetLong = `vet validates the spec against the schema, runs every emitter and checks the
artifacts as emitted: parsed back by their consumers' parsers (BuildKit,
mvdan.cc/sh and shellcheck, compose-go, strict k8s.io/api decoding), held
against each other and against the spec. It writes nothing, prints every
error with its position and exits 1. build runs the same checks except
shellcheck.`

func newVetCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:   "vet",
		Short: "Validate a spec, writing nothing",
		Long:  vetLong,
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			// vet writes nothing, so an --out outside any Go module
			// is no error here: the artifacts checked in memory take
			// the library's default context (build.Options.Context).
			o := build.Options{Spec: f.spec, Tags: f.tags, Out: f.out, Context: f.context, Version: version.Version}
			o.Shellcheck = true
			_, _, err := build.Generate(o)
			return err
		},
	}
}
