package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"mvdan.cc/sh/v3/syntax"

	"github.com/lighthouse-project/lighthouse/gen/initspec"
)

const initLong = `init writes a commented starter spec, DIR/service.cue, for a Go main
package of the module around the working directory: a non-root HTTP
service with no privileges, one port (8080), HTTP health checks, a
read-only root with a /tmp tmpfs, and resource requests and limits. It
vets, builds and audits clean as written; each field's comment says what
it means and which "lighthouse-gen explain FIELD" shows how the artifacts
express it.

The module path comes from go.mod; the main packages are found as
"go build ./..." would find them (testdata, vendor, folders starting with
. or _, nested modules and links to folders are skipped; files are matched
for linux/amd64 with cgo off). With one main package init takes it; with several it lists
them and --package picks one: ./cmd/x relative to the module root, or its
import path.

The service name (and binary) is the program's name as go build names
it, in lower case, each run of characters other than letters and digits
made one dash (My_Tool.v2 is my-tool-v2); a name that cannot be made a
DNS label is refused: pass --name.

DIR defaults to deploy/NAME at the module root. An existing
DIR/service.cue is not overwritten without --force; a DIR holding other
.cue files is refused.

Examples:
  lighthouse-gen init
  lighthouse-gen init --package ./cmd/notes
  lighthouse-gen init deploy/api --package example.com/shop/cmd/api --name shop-api`

// initOpts are the flags of init.
type initOpts struct {
	pkg, name string
	force     bool
}

func newInitCmd() *cobra.Command {
	var o initOpts
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a starter spec for a Go main package of this module",
		Long:  initLong,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInit(cmd, args, o)
		},
	}
	cmd.Flags().StringVar(&o.pkg, "package", "", "the main package: ./cmd/x relative to the module root, or its import path (default: the only one)")
	cmd.Flags().StringVar(&o.name, "name", "", "the service name, a DNS label (default: from the program's name)")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace an existing DIR/service.cue")
	return cmd
}

// spec-reading flags init has no use for; taking one silently would
// write somewhere the user did not mean.
var initRefused = []string{"spec", "out", "context", "tag"}

func runInit(cmd *cobra.Command, args []string, o initOpts) error {
	for _, n := range initRefused {
		if cmd.Flags().Changed(n) {
			return fmt.Errorf("init does not take --%s: it writes a new spec into DIR (lighthouse-gen init DIR)", n)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	opts := initspec.Options{WorkDir: wd, Package: o.pkg, Name: o.name, Force: o.force}
	if len(args) == 1 {
		if args[0] == "" {
			return fmt.Errorf("init: DIR is empty; name the spec folder or leave DIR out (deploy/NAME)")
		}
		opts.Dir = args[0]
	}
	r, err := initspec.Init(opts)
	if err != nil {
		return err
	}
	for _, k := range r.Skipped {
		cmd.PrintErrf("lighthouse-gen: init: skipped %s\n", k)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "wrote %s: service %s, package %s of module %s\n", quote(r.Path), r.Name, r.Package.Rel(), r.Module.Path)
	if o.name == "" && r.Name != r.Exec {
		fmt.Fprintf(out, "the name %s is the program's name %s as a DNS label; --name sets another\n", r.Name, quote(r.Exec))
	}
	q := quote(r.Dir)
	outFlag := " --out " + q
	if !r.InModule {
		outFlag = "" // outside the module: the default --out, deploy
	}
	fmt.Fprintf(out, "next:\n")
	fmt.Fprintf(out, "  lighthouse-gen vet --spec %s\n", q)
	fmt.Fprintf(out, "  lighthouse-gen build --spec %s%s\n", q, outFlag)
	fmt.Fprintf(out, "  lighthouse-gen explain --spec %s\n", q)
	return nil
}

// quote makes s one shell word, so a printed command can be pasted.
func quote(s string) string {
	q, err := syntax.Quote(s, syntax.LangPOSIX)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return q
}
