package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
	"github.com/lighthouse-project/lighthouse/gen/audit"
	"github.com/lighthouse-project/lighthouse/gen/build"
	"github.com/lighthouse-project/lighthouse/gen/check"
	"github.com/lighthouse-project/lighthouse/gen/spec"
)

const auditLong = `audit holds artifacts that someone wrote or edited by hand against the spec,
with the same parsers and invariants build uses: the Dockerfile, start.sh,
compose.yaml and kubernetes.yaml in DIR (missing ones are named and the
rest still checked), each against the others and against the spec (--spec,
default the embedded bridge spec).

It catches a start script or ENTRYPOINT that runs another program or
subcommand than the spec's entry, a binary or Go module the spec's
image.forbid lists, a health check on a port or path the spec does not
declare, a capability or device without the FUSE mount that needs it,
variables set that the spec does not declare, and, for files that carry a
lighthouse-gen header, "stale" (generated from another spec) apart from
"hand-edited" (no longer matching its own digest).

With --binary PATH (or, without it, the first of DIR/<binary>,
DIR/bin/<binary> and DIR/../bin/<binary> that exists), the Go modules linked
into the entry binary are read with debug/buildinfo.

One finding per line, "file:line: rule: message"; exit status 1 if any.

Examples:
  lighthouse-gen audit deploy
  lighthouse-gen audit deploy --binary bin/lighthouse-bridge
  lighthouse-gen audit golden/audit/hand-edited --spec golden/audit/hand-edited/spec`

func newAuditCmd(f *flags) *cobra.Command {
	var binary string
	var noShellcheck bool
	cmd := &cobra.Command{
		Use:   "audit DIR",
		Short: "Check hand-written artifacts against each other and the spec",
		Long:  auditLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			s, err := spec.Load(spec.Options{Dir: f.spec, Tags: f.tags})
			if err != nil {
				return err
			}
			wd, _ := os.Getwd()
			// The artifacts the spec gives are placed in the build context
			// as build would place them for this folder.
			eo, err := build.ContextOptions(dir, f.context, version.Version)
			if err != nil {
				return err
			}
			findings, err := audit.Dir(cmd.Context(), s, dir, eo, !noShellcheck, wd)
			if err != nil {
				return err
			}
			if binary == "" {
				binary = findBinary(dir, s.Entry.Binary)
			}
			if binary != "" {
				// The entry must be the spec's package in the module of
				// the build context (--context, else the Go module root
				// holding DIR).
				ctxDir := f.context
				if ctxDir == "" {
					ctxDir, _ = build.ModuleRoot(dir)
				}
				module := ""
				if ctxDir != "" {
					if module, err = audit.ModulePath(ctxDir); err != nil {
						return err
					}
				}
				bf, err := audit.Binary(s, binary, wd, module)
				if err != nil {
					return err
				}
				findings = append(findings, bf...)
				cmd.PrintErrf("lighthouse-gen: audit: read the Go modules of %s\n", binary)
			}
			for _, fd := range check.SortFindings(findings) {
				fmt.Fprintln(cmd.OutOrStdout(), fd)
			}
			if len(findings) > 0 {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "the built entry binary whose Go modules to check (default: looked up next to DIR)")
	cmd.Flags().BoolVar(&noShellcheck, "no-shellcheck", false, "do not run shellcheck on start.sh (it is required otherwise)")
	return cmd
}

// findBinary looks for a built entry binary where the conventions put
// one: in DIR, in DIR/bin, or in bin/ of the build context above DIR.
func findBinary(dir, name string) string {
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, "bin", name), filepath.Join(dir, "..", "bin", name)} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
