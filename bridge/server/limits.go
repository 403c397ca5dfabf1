package server

import (
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/netlimit"
)

// The probe path: the server of the connections beyond the limits, which
// answers health and readiness and refuses the rest (api.ProbeHandler).
// It reads one small request quickly and never keeps a connection.
const (
	probeConnections   = 64
	probeHeaderTimeout = 2 * time.Second
	probeWriteTimeout  = 5 * time.Second // /status's checks take at most 2s
	probeHeaderBytes   = 4 << 10
	// fdReserve is the descriptors kept for everything but clients: the
	// store, snapshots, the FUSE device, logs, the runtime.
	fdReserve = 128
)

// httpServers builds the API's server on ln within the limits, and the
// probe server of the connections beyond them.
func (b *Bridge) httpServers(ln net.Listener) (srv, probe *http.Server, lln *netlimit.Listener) {
	lim := b.connectionLimits()
	lln = netlimit.New(ln, netlimit.Config{MaxConns: lim.MaxConnections, MaxPerClient: lim.MaxConnectionsPerClient,
		Overflow: probeConnections, OverflowDeadline: probeHeaderTimeout + probeWriteTimeout})
	errLog := slog.NewLogLogger(b.log.Handler(), slog.LevelWarn)
	srv = &http.Server{
		Handler:           b.api,
		ReadHeaderTimeout: lim.HeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ConnState:         lln.ConnState,
		ErrorLog:          errLog,
	}
	probe = &http.Server{
		Handler:           b.api.ProbeHandler(),
		ReadHeaderTimeout: probeHeaderTimeout,
		ReadTimeout:       probeHeaderTimeout,
		WriteTimeout:      probeWriteTimeout,
		MaxHeaderBytes:    probeHeaderBytes,
		ErrorLog:          errLog,
	}
	probe.SetKeepAlivesEnabled(false)
	b.metrics.GaugeFunc("lighthouse_connections_open", "Client connections held within LIGHTHOUSE_MAX_CONNECTIONS.",
		func() float64 { return float64(lln.Stats().Open) })
	for _, c := range []struct {
		name, help string
		f          func(netlimit.Stats) uint64
	}{
		{"lighthouse_connections_evicted_total", "Idle or silent connections closed to make room at a connection limit.", func(s netlimit.Stats) uint64 { return s.Evicted }},
		{"lighthouse_connections_overflow_total", "Connections beyond the limits served by the probe path (health and readiness only).", func(s netlimit.Stats) uint64 { return s.Overflowed }},
		{"lighthouse_connections_refused_total", "Connections beyond the limits closed at once (the probe path was full).", func(s netlimit.Stats) uint64 { return s.Refused }},
	} {
		b.metrics.CounterFunc(c.name, c.help, func() float64 { return float64(c.f(lln.Stats())) })
	}
	return srv, probe, lln
}

// connectionLimits are the configured limits, with the connection count
// lowered to fit the process's file-descriptor limit (with a warning).
func (b *Bridge) connectionLimits() config.Limits {
	lim := b.cfg.Limits
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return lim
	}
	fit := int64(rl.Cur) - fdReserve - probeConnections
	if fit < 1 {
		fit = 1
	}
	if int64(lim.MaxConnections) > fit {
		b.log.Warn("lowering "+config.EnvMaxConnections+" to fit the file-descriptor limit",
			"configured", lim.MaxConnections, "rlimit_nofile", rl.Cur, "max_connections", fit)
		lim.MaxConnections = int(fit)
		lim.MaxConnectionsPerClient = min(lim.MaxConnectionsPerClient, lim.MaxConnections)
	}
	return lim
}
