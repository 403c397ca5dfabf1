package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

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
			client := &http.Client{Timeout: timeout}
			for _, path := range []string{"/health", "/status"} {
				if err := probe(cmd.Context(), client, base+path); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "timeout of each request")
	return cmd
}

func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
