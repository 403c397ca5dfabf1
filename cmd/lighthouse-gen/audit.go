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

const auditLong = `audit holds artifacts that someone wrote or edited by hand against the spec
(--spec, default the embedded bridge spec): the Dockerfile, start.sh,
compose.yaml and kubernetes.yaml in DIR (missing ones are named and the rest
still audited; a generated header is not needed, a present one must match).

It emits the artifacts the spec gives with the compiler's own emitters (placed
in the build context as build would place them for DIR: --context, else the
Go module root holding DIR), parses both sides with the consumers' parsers
(BuildKit, mvdan.cc/sh, compose-go, strict Kubernetes decoding) and reports
every semantic difference, default-deny: a key, object, stage, instruction or
command on one side only, or a value that differs, as

  file:line: rule: path: hand-written X, the spec gives Y (spec: file:line:col)

Only what the consumer itself reads alike is not a difference: formatting,
comments, key order, quoting, equal spellings (cpus: 2 and "2.0", short and
long port syntax, 1Gi and 1073741824) and the defaults it fills in. A
difference that widens privileges (host namespaces, capabilities, seccomp and
AppArmor, privilege escalation, the user, host paths and devices, ports and
network policies, the image and anything that runs) has the rule "widens" and
comes first; any other has "differs". The artifacts are also held against
each other, as build does, and nothing the spec's image.forbid lists may be
in the image.

With --binary PATH (or, without it, the first of DIR/<binary>,
DIR/bin/<binary> and DIR/../bin/<binary> that exists), the entry binary's
build information (debug/buildinfo) must name the spec's entry.package in the
build context's Go module as its main package, and no Go module the spec
forbids.

One finding per line; exit status 1 if any.

Examples:
  lighthouse-gen audit deploy
  lighthouse-gen audit deploy --binary bin/lighthouse-bridge
  lighthouse-gen audit build/notes --spec golden/notes/spec --context build`

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
				cmd.PrintErrf("lighthouse-gen: audit: read the build information of %s\n", binary)
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
