package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/server"
)

const serveLong = `Serve the Bridge's HTTP API until SIGTERM or SIGINT, then finish in-flight
requests within the grace period, unmount the FUSE view, close the event
store and exit 0.

Start-up checks the event store (a damaged file, a log that ends before
its high-water mark, an empty or another store's log next to snapshots of a
log: each stops start-up with what to do; see lighthouse-bridge check),
loads the newest valid snapshot from LIGHTHOUSE_SNAPSHOT_PATH and replays
only the events after it (damaged snapshots are skipped with a warning); a
snapshot is written every 10,000 events. Shutdown takes at most the 10 s
grace period, even with the FUSE view busy. With
LIGHTHOUSE_MOUNT_POINT set, the read-only FUSE view (current/, history/,
events/) is mounted there, a stale mount left by a killed bridge is cleared
first, and /status is ready only once the view answers.

LIGHTHOUSE_EVENT_STORE_PATH, LIGHTHOUSE_SNAPSHOT_PATH and LIGHTHOUSE_AUTH_SECRET
(32 to 1,024 bytes, not guessable: at least 80 bits by the estimate) are
required; start-up stops naming any that is missing or invalid. The limits
(LIGHTHOUSE_MAX_CONNECTIONS, _MAX_CONNECTIONS_PER_CLIENT, _MAX_BYTES_IN_FLIGHT,
_MAX_HEADER_BYTES, _HEADER_TIMEOUT, _READ_TIMEOUT, _IDLE_TIMEOUT,
_MAX_STREAMS, _MAX_STREAMS_PER_AGENT, _SHADOW_MAX_FILE_BYTES,
_SHADOW_MAX_TOTAL_BYTES and the budgets _MAX_BYTES_IN_FLIGHT_PER_CLIENT,
_SHADOW_MAX_PATH_DEPTH, _SHADOW_MAX_INDEX_BYTES, _SHADOW_AGENT_SHARE,
_COORD_MAX_BYTES, _COORD_MAX_AGENT_BYTES, _EVENT_STORE_MIN_FREE_BYTES,
_QUERY_SCAN_LIMIT) default to sizes that fit the deploy's 1 GiB; the
README's Operations section lists each. The Go runtime's soft memory limit
is set to 90% of LIGHTHOUSE_MEMORY_LIMIT, or of the cgroup's memory limit
when that is unset (a GOMEMLIMIT in the environment wins). Logs are JSON
on stderr.

Example:
  export LIGHTHOUSE_AUTH_SECRET="$(head -c 32 /dev/urandom | base64)"
  LIGHTHOUSE_EVENT_STORE_PATH=/data/events LIGHTHOUSE_SNAPSHOT_PATH=/data/snapshots \
    lighthouse-bridge serve`

func newServeCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the Bridge",
		Long:  serveLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(getenv)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: cfg.LogLevel}))
			slog.SetDefault(logger)
			setMemoryLimit(cfg.MemoryLimit, cgroupMemoryLimit, logger)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := server.Run(ctx, cfg, server.Options{Logger: logger}); err != nil {
				logger.Error("lighthouse-bridge failed", "error", err.Error())
				return err
			}
			return nil
		},
	}
}
