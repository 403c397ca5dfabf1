package main

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/config"
)

const healthcheckLong = `Check the local Bridge: GET /health and /status on LIGHTHOUSE_PORT and
exit 0 only when both answer 200. Meant for container health checks, so
images need no curl. It needs no secret: only LIGHTHOUSE_HOST and
LIGHTHOUSE_PORT are read (a wildcard host is checked on 127.0.0.1).`

func newHealthcheckCmd(getenv func(string) string) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local Bridge is live and ready",
		Long:  healthcheckLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := config.LoadListen(getenv)
			if err != nil {
				return err
			}
			host := l.Host
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				host = "127.0.0.1"
			}
			base := "http://" + net.JoinHostPort(host, strconv.Itoa(l.Port))
			c, err := client.New(client.Options{BaseURL: base, Timeout: timeout, DialTimeout: timeout})
			if err != nil {
				return err
			}
			if _, err := c.Health(cmd.Context()); err != nil {
				return err
			}
			if _, err := c.Status(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each request")
	return cmd
}
