package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/cmd/internal/version"
	"github.com/lighthouse-project/lighthouse/gen/live"
)

const verifyLong = `verify --live builds and runs what lighthouse-gen generates and proves the
running container is the service the spec describes.

It imports a local base image (a static busybox, since nothing can be
pulled), generates the artifacts in prebuilt mode on that base, builds the
entry binary (static) and the image through the generated compose file,
starts it with a generated env file for the secrets, waits for Docker to
report it healthy, then asserts from outside and inside the container: PID 1
is the entry with its arguments and runs alone, the health routes answer,
uid, gid, capabilities, listening ports and environment are exactly the
declared ones, the FUSE view is mounted and shows a file pushed through the
API. It stops the service (SIGTERM, exit 0 within the grace period), starts
it again and checks that events and shadow files survived. Every
container, network, volume and image it made is removed, also on failure.

One progress line per step goes to stderr; --report writes the JSON report.
The exit code is 1 when a step failed. The artifacts are generated into a
temporary folder, so --out and --context (build's flags) are refused here.

Needs: a Docker engine, docker compose or docker-compose, Debian's
busybox-static, the Go toolchain.

Examples:
  lighthouse-gen verify --live
  lighthouse-gen verify --live --report live.json
  lighthouse-gen verify --live --spec cue/bridge --module . -t version=1.0.0`

// buildOnly are the global flags verify refuses: it chooses its own
// output folder and build context.
var buildOnly = []string{"out", "context"}

func newVerifyCmd(f *flags) *cobra.Command {
	var (
		liveFlag bool
		report   string
		o        live.Options
	)
	cmd := &cobra.Command{
		Use:   "verify --live",
		Short: "Build and run the generated container and prove it is the service",
		Long:  verifyLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, n := range buildOnly {
				if cmd.Flags().Changed(n) {
					return fmt.Errorf("verify does not take --%s: it generates into a temporary folder and builds from there (--%s is for build and diff)", n, n)
				}
			}
			if !liveFlag {
				return errors.New("verify needs --live: it builds and runs the container (static checks are build --check)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Spec, o.Tags, o.Version = f.spec, f.tags, version.Version
			o.Progress = cmd.ErrOrStderr()
			rep := live.Run(ctx, o)
			if report != "" {
				data, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(report, append(data, '\n'), 0o644); err != nil {
					return err
				}
			}
			return rep.Err()
		},
	}
	// The global --out and --context mean nothing here: hide them from
	// verify's help (the flag values are shared, so only while it prints).
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		for _, n := range buildOnly {
			if fl := c.Root().PersistentFlags().Lookup(n); fl != nil {
				fl.Hidden = true
				defer func() { fl.Hidden = false }()
			}
		}
		c.Root().HelpFunc()(c, args)
	})
	fl := cmd.Flags()
	fl.BoolVar(&liveFlag, "live", false, "build and run the container (required)")
	fl.StringVar(&report, "report", "", "write the JSON report to this file")
	fl.StringVar(&o.Module, "module", "", "Go module to build the entry from (default: the one holding the working directory)")
	fl.StringVar(&o.Busybox, "busybox", "", "static busybox for the base image (default: busybox on PATH)")
	fl.DurationVar(&o.HealthTimeout, "health-timeout", 0, "how long to wait for healthy (default: start period + (retries+1) intervals + timeout)")
	fl.BoolVar(&o.FailFast, "fail-fast", false, "stop at the first failed step (cleanup still runs)")
	return cmd
}
