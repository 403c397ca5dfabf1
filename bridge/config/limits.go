package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The environment variables of the Bridge's resource limits. Each has a
// default sized to the deploy (1 GiB of memory, the file-descriptor
// limit); README's operations section explains each.
const (
	EnvMaxConnections            = "LIGHTHOUSE_MAX_CONNECTIONS"
	EnvMaxConnectionsPerClient   = "LIGHTHOUSE_MAX_CONNECTIONS_PER_CLIENT"
	EnvMaxBytesInFlight          = "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT"
	EnvMaxBytesInFlightPerClient = "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT_PER_CLIENT"
	EnvMaxHeaderBytes            = "LIGHTHOUSE_MAX_HEADER_BYTES"
	EnvHeaderTimeout             = "LIGHTHOUSE_HEADER_TIMEOUT"
	EnvReadTimeout               = "LIGHTHOUSE_READ_TIMEOUT"
	EnvIdleTimeout               = "LIGHTHOUSE_IDLE_TIMEOUT"
	EnvMaxStreams                = "LIGHTHOUSE_MAX_STREAMS"
	EnvMaxStreamsPerAgent        = "LIGHTHOUSE_MAX_STREAMS_PER_AGENT"
)

// limitVariables are the limits' variables, sorted.
var limitVariables = []string{
	EnvHeaderTimeout, EnvIdleTimeout, EnvMaxBytesInFlight, EnvMaxBytesInFlightPerClient, EnvMaxConnections,
	EnvMaxConnectionsPerClient, EnvMaxHeaderBytes, EnvMaxStreams, EnvMaxStreamsPerAgent, EnvReadTimeout,
}

// Limits bound what clients may make the Bridge hold: connections,
// request bytes, time and event streams. Zero fields mean the default
// (WithDefaults).
type Limits struct {
	// MaxConnections bounds open client connections in all. Beyond it the
	// longest-idle connection is closed to make room; when none is idle,
	// a new connection is served by the probe path only (health and
	// readiness; everything else 503 with Retry-After), and beyond that
	// it is closed at once.
	MaxConnections int
	// MaxConnectionsPerClient bounds the connections of one client
	// address (an IPv6 client: its /64), handled as above.
	MaxConnectionsPerClient int
	// MaxBytesInFlight bounds the request-body bytes (and query-answer
	// bytes) held by all requests at once; beyond it 503 with Retry-After.
	MaxBytesInFlight int64
	// MaxBytesInFlightPerClient bounds those held by one agent (one
	// client address on the public routes); beyond it 429 with
	// Retry-After. The public routes also keep a reserve of
	// MaxBytesInFlight that agents never take.
	MaxBytesInFlightPerClient int64
	// MaxHeaderBytes bounds one request's header.
	MaxHeaderBytes int
	// HeaderTimeout bounds reading one request's header, and any pause
	// within its body (408 beyond it: a client cannot hold its share of
	// the bytes in flight by stalling); ReadTimeout the whole request
	// with its body; IdleTimeout a kept-alive connection waiting for its
	// next request.
	HeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// MaxStreams and MaxStreamsPerAgent bound open /event/stream answers,
	// in all and per agent; one more is 429 with Retry-After.
	MaxStreams, MaxStreamsPerAgent int
}

// The limits' defaults. Memory, within the deploy's 1 GiB: a connection
// costs about 40 KiB at most while its header is read (buffers, goroutine,
// the header itself), so 4,096 of them stay under 170 MiB; the bodies in
// flight add 64 MiB of received bytes (about twice that in buffers and
// decoded copies); 512 streams share one 32 MiB frame buffer. The
// connection count also stays well below the usual file-descriptor limit
// (the server lowers it, with a warning, when RLIMIT_NOFILE is smaller).
const (
	DefaultMaxConnections          = 4096
	DefaultMaxConnectionsPerClient = 256
	DefaultMaxBytesInFlight        = 64 << 20
	// DefaultMaxBytesInFlightPerClient is a quarter of the default bytes
	// in flight (and never more than the bytes in flight set).
	DefaultMaxBytesInFlightPerClient = 16 << 20
	DefaultMaxHeaderBytes            = 16 << 10
	DefaultHeaderTimeout             = 10 * time.Second
	DefaultReadTimeout               = 60 * time.Second
	DefaultIdleTimeout               = 60 * time.Second
	DefaultMaxStreams                = 512
	DefaultMaxStreamsPerAgent        = 8
)

// DefaultLimits are the limits with every default.
func DefaultLimits() Limits { return Limits{}.WithDefaults() }

// WithDefaults fills the zero fields with their defaults.
func (l Limits) WithDefaults() Limits {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.MaxConnections, DefaultMaxConnections)
	set(&l.MaxConnectionsPerClient, min(DefaultMaxConnectionsPerClient, l.MaxConnections))
	if l.MaxBytesInFlight <= 0 {
		l.MaxBytesInFlight = DefaultMaxBytesInFlight
	}
	if l.MaxBytesInFlightPerClient <= 0 {
		l.MaxBytesInFlightPerClient = min(DefaultMaxBytesInFlightPerClient, l.MaxBytesInFlight)
	}
	set(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setD(&l.HeaderTimeout, DefaultHeaderTimeout)
	setD(&l.ReadTimeout, DefaultReadTimeout)
	setD(&l.IdleTimeout, DefaultIdleTimeout)
	set(&l.MaxStreams, DefaultMaxStreams)
	set(&l.MaxStreamsPerAgent, min(DefaultMaxStreamsPerAgent, l.MaxStreams))
	return l
}

// Bounds of the limits: each number is held to what its consumer can
// take (and to sense: a limit of zero would refuse everything).
const (
	maxConnectionsBound = 1 << 20 // file descriptors of one process
	minBytesInFlight    = 1 << 20 // one whole body of the largest size
	maxBytesInFlight    = 1 << 36 // 64 GiB
	minHeaderBytes      = 4 << 10
	maxHeaderBytes      = 1 << 20
	minTimeout          = time.Second
	maxTimeout          = time.Hour
	maxStreamsBound     = 1 << 16
)

// LoadLimits reads the limits' variables through getenv; unset ones take
// their defaults. Every problem is reported, each naming its variable.
func LoadLimits(getenv func(string) string) (Limits, []error) {
	var l Limits
	var errs []error
	intVar := func(name string, lo, hi int64, dst *int64) {
		s := strings.TrimSpace(getenv(name))
		if s == "" {
			return
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s must be a whole number from %d to %d, got %q", name, lo, hi, s))
			return
		}
		*dst = n
	}
	durVar := func(name string, dst *time.Duration) {
		s := strings.TrimSpace(getenv(name))
		if s == "" {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < minTimeout || d > maxTimeout {
			errs = append(errs, fmt.Errorf("%s must be a duration from %v to %v (like 30s or 2m), got %q", name, minTimeout, maxTimeout, s))
			return
		}
		*dst = d
	}
	var conns, perClient, inFlight, inFlightClient, header, streams, perAgent int64
	intVar(EnvMaxConnections, 1, maxConnectionsBound, &conns)
	intVar(EnvMaxConnectionsPerClient, 1, maxConnectionsBound, &perClient)
	intVar(EnvMaxBytesInFlight, minBytesInFlight, maxBytesInFlight, &inFlight)
	intVar(EnvMaxBytesInFlightPerClient, minBytesInFlight, maxBytesInFlight, &inFlightClient)
	intVar(EnvMaxHeaderBytes, minHeaderBytes, maxHeaderBytes, &header)
	intVar(EnvMaxStreams, 1, maxStreamsBound, &streams)
	intVar(EnvMaxStreamsPerAgent, 1, maxStreamsBound, &perAgent)
	durVar(EnvHeaderTimeout, &l.HeaderTimeout)
	durVar(EnvReadTimeout, &l.ReadTimeout)
	durVar(EnvIdleTimeout, &l.IdleTimeout)
	l.MaxConnections, l.MaxConnectionsPerClient = int(conns), int(perClient)
	l.MaxBytesInFlight, l.MaxBytesInFlightPerClient, l.MaxHeaderBytes = inFlight, inFlightClient, int(header)
	l.MaxStreams, l.MaxStreamsPerAgent = int(streams), int(perAgent)
	l = l.WithDefaults()
	if l.MaxConnectionsPerClient > l.MaxConnections {
		errs = append(errs, fmt.Errorf("%s (%d) must not exceed %s (%d)", EnvMaxConnectionsPerClient, l.MaxConnectionsPerClient, EnvMaxConnections, l.MaxConnections))
	}
	if l.MaxBytesInFlightPerClient > l.MaxBytesInFlight {
		errs = append(errs, fmt.Errorf("%s (%d) must not exceed %s (%d)", EnvMaxBytesInFlightPerClient, l.MaxBytesInFlightPerClient, EnvMaxBytesInFlight, l.MaxBytesInFlight))
	}
	if l.MaxStreamsPerAgent > l.MaxStreams {
		errs = append(errs, fmt.Errorf("%s (%d) must not exceed %s (%d)", EnvMaxStreamsPerAgent, l.MaxStreamsPerAgent, EnvMaxStreams, l.MaxStreams))
	}
	if l.HeaderTimeout > l.ReadTimeout {
		errs = append(errs, fmt.Errorf("%s (%v) must not exceed %s (%v)", EnvHeaderTimeout, l.HeaderTimeout, EnvReadTimeout, l.ReadTimeout))
	}
	return l, errs
}
