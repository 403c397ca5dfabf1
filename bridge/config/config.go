// Package config reads the Bridge's configuration from the environment,
// and only from the variables the contract lists, so the CUE spec and the
// binary cannot drift apart (a contract test holds Variables equal to the
// spec's env list).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The names of the environment variables the Bridge reads. They are the
// whole configuration surface: anything else is a Go option with a default.
const (
	EnvHost           = "LIGHTHOUSE_HOST"
	EnvPort           = "LIGHTHOUSE_PORT"
	EnvLogLevel       = "LIGHTHOUSE_LOG_LEVEL"
	EnvEventStorePath = "LIGHTHOUSE_EVENT_STORE_PATH"
	EnvSnapshotPath   = "LIGHTHOUSE_SNAPSHOT_PATH"
	EnvMountPoint     = "LIGHTHOUSE_MOUNT_POINT"
	EnvAuthSecret     = "LIGHTHOUSE_AUTH_SECRET"

	EnvShadowMaxFileBytes  = "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES"
	EnvShadowMaxTotalBytes = "LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES"
	EnvShadowMaxPathDepth  = "LIGHTHOUSE_SHADOW_MAX_PATH_DEPTH"
	EnvShadowMaxIndexBytes = "LIGHTHOUSE_SHADOW_MAX_INDEX_BYTES"
	EnvShadowAgentShare    = "LIGHTHOUSE_SHADOW_AGENT_SHARE"

	EnvCoordMaxBytes      = "LIGHTHOUSE_COORD_MAX_BYTES"
	EnvCoordMaxAgentBytes = "LIGHTHOUSE_COORD_MAX_AGENT_BYTES"
	EnvEventStoreMinFree  = "LIGHTHOUSE_EVENT_STORE_MIN_FREE_BYTES"
	EnvQueryScanLimit     = "LIGHTHOUSE_QUERY_SCAN_LIMIT"
	EnvMemoryLimit        = "LIGHTHOUSE_MEMORY_LIMIT"
)

// Defaults of the optional variables.
const (
	DefaultHost     = "0.0.0.0"
	DefaultPort     = 8765
	DefaultLogLevel = "info"

	// DefaultShadowMaxFileBytes is the largest shadow file (PUT /shadow
	// answers 413 beyond it): 1 MiB, the contract's event limit. The
	// contents of PUTs in progress are held in memory, at most
	// max(64 MiB, twice this) of them.
	DefaultShadowMaxFileBytes = 1 << 20
	// DefaultShadowMaxTotalBytes bounds the distinct shadow content the
	// event store keeps (every version ever PUT, deduplicated; 507 beyond
	// it): 512 MiB, half the deploy's 1 GiB event-store volume, which also
	// holds the event log and bbolt's free pages.
	DefaultShadowMaxTotalBytes = 512 << 20
	// DefaultShadowMaxPathDepth bounds a shadow path's directories: each
	// file appearing or vanishing costs every ancestor an entry of
	// history.
	DefaultShadowMaxPathDepth = 64
	// DefaultShadowMaxIndexBytes bounds the memory the shadow's paths,
	// versions and directory histories take (an estimate): 128 MiB of
	// the deploy's 1 GiB.
	DefaultShadowMaxIndexBytes = 128 << 20
	// DefaultShadowAgentShare is the percent of the index and of the
	// total content one agent's changes may take.
	DefaultShadowAgentShare = 50

	// DefaultCoordMaxBytes and DefaultCoordMaxAgentBytes bound the
	// coordination work (tasks, delegations, collaborations, questions
	// and their results) held in memory, in all and per agent.
	DefaultCoordMaxBytes      = 64 << 20
	DefaultCoordMaxAgentBytes = 16 << 20
	// DefaultEventStoreMinFree is the space kept free on the event
	// store's file system: appends are refused (507) below it, before
	// the disk is full.
	DefaultEventStoreMinFree = 64 << 20
	// DefaultQueryScanLimit bounds the events one query or stream
	// catch-up examines; past it the answer is cut short with
	// next_since, so events the reader may not see cost it a page each.
	DefaultQueryScanLimit = 10000
)

// Bounds of those: numbers their consumers can take.
const (
	MaxShadowPathDepth  = MaxPathElems
	MaxShadowIndexBytes = 1 << 36
	MaxCoordBytes       = 1 << 36
	MaxEventStoreFree   = 1 << 40
	MaxQueryScanLimit   = 1 << 24
	// MaxPathElems is the most elements a shadow path of 4,095 bytes has.
	MaxPathElems = 2048
)

// Bounds of the shadow limits. A file's content is held in memory while
// it is received and committed, so the largest file is bounded by the
// deploy's 1 GiB memory: 64 MiB (the upload budget is then 128 MiB, and
// bbolt copies it once more while committing). The total is bounded far
// above any volume this bridge is given (1 TiB); it lives on disk.
const (
	MaxShadowFileBytes  = 64 << 20
	MaxShadowTotalBytes = 1 << 40
)

// MinSecretBytes is the shortest accepted LIGHTHOUSE_AUTH_SECRET: an HMAC
// key shorter than the SHA-256 output weakens every agent key and token.
const MinSecretBytes = 32

// Variables lists every environment variable the Bridge reads, sorted.
// It exists so a test can hold it equal to the variables the CUE spec
// declares for the bridge service.
func Variables() []string {
	vars := append([]string{
		EnvAuthSecret,
		EnvEventStorePath,
		EnvHost,
		EnvLogLevel,
		EnvMountPoint,
		EnvPort,
		EnvShadowMaxFileBytes,
		EnvShadowMaxTotalBytes,
		EnvShadowMaxPathDepth,
		EnvShadowMaxIndexBytes,
		EnvShadowAgentShare,
		EnvCoordMaxBytes,
		EnvCoordMaxAgentBytes,
		EnvEventStoreMinFree,
		EnvQueryScanLimit,
		EnvMemoryLimit,
		EnvSnapshotPath,
	}, limitVariables...)
	slices.Sort(vars)
	return vars
}

// Config is the validated configuration of `lighthouse-bridge serve`.
type Config struct {
	Host           string
	Port           int
	LogLevel       slog.Level
	EventStorePath string
	SnapshotPath   string
	MountPoint     string // empty: no FUSE view
	AuthSecret     []byte
	// ShadowMaxFileBytes is the largest shadow file a PUT may store.
	ShadowMaxFileBytes int64
	// ShadowMaxTotalBytes bounds the distinct shadow content stored.
	ShadowMaxTotalBytes int64
	// ShadowMaxPathDepth, ShadowMaxIndexBytes and ShadowAgentShare bound
	// the shadow's index in memory (bridge/shadow, budget.go).
	ShadowMaxPathDepth  int
	ShadowMaxIndexBytes int64
	ShadowAgentShare    int
	// CoordMaxBytes and CoordMaxAgentBytes bound the coordination state.
	CoordMaxBytes, CoordMaxAgentBytes int64
	// EventStoreMinFree is the space kept free on the store's volume.
	EventStoreMinFree int64
	// QueryScanLimit bounds the events one query examines.
	QueryScanLimit int
	// MemoryLimit is the process's memory limit in bytes, of which the
	// Go runtime's soft limit is set (lighthouse-bridge serve); zero:
	// the cgroup's.
	MemoryLimit int64
	// Limits bound connections, request bytes, time and streams; zero
	// fields take their defaults (Limits.WithDefaults).
	Limits Limits
}

// Addr is the listen address, host and port joined.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Listen is the part of the configuration the healthcheck needs: it must
// work in a container without the secret or the paths.
type Listen struct {
	Host string
	Port int
}

// Load reads and validates the full serve configuration through getenv
// (os.Getenv in production, a map in tests). Every problem is reported,
// each naming its variable.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	l, err := LoadListen(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	c := Config{Host: l.Host, Port: l.Port}

	c.LogLevel, err = parseLevel(getenv(EnvLogLevel))
	if err != nil {
		errs = append(errs, err)
	}
	c.EventStorePath, err = requiredPath(getenv, EnvEventStorePath, "directory of the event store")
	if err != nil {
		errs = append(errs, err)
	}
	c.SnapshotPath, err = requiredPath(getenv, EnvSnapshotPath, "directory of snapshots")
	if err != nil {
		errs = append(errs, err)
	}
	if mp := strings.TrimSpace(getenv(EnvMountPoint)); mp != "" {
		if !filepath.IsAbs(mp) {
			errs = append(errs, fmt.Errorf("%s must be an absolute path, got %q", EnvMountPoint, mp))
		} else {
			c.MountPoint = filepath.Clean(mp)
		}
	}
	c.AuthSecret, err = LoadSecret(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	c.ShadowMaxFileBytes, err = byteCount(getenv, EnvShadowMaxFileBytes, DefaultShadowMaxFileBytes, 1, MaxShadowFileBytes)
	if err != nil {
		errs = append(errs, err)
	}
	c.ShadowMaxTotalBytes, err = byteCount(getenv, EnvShadowMaxTotalBytes, DefaultShadowMaxTotalBytes, 1, MaxShadowTotalBytes)
	if err != nil {
		errs = append(errs, err)
	}
	if c.ShadowMaxTotalBytes < c.ShadowMaxFileBytes && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s (%d) must be at least %s (%d): no file of the largest size could ever be stored",
			EnvShadowMaxTotalBytes, c.ShadowMaxTotalBytes, EnvShadowMaxFileBytes, c.ShadowMaxFileBytes))
	}
	loadBudgets(getenv, &c, &errs)
	var lerrs []error
	c.Limits, lerrs = LoadLimits(getenv)
	errs = append(errs, lerrs...)
	if c.Limits.MaxBytesInFlight < c.ShadowMaxFileBytes && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s (%d) must be at least %s (%d): a shadow file of the largest size could never be received",
			EnvMaxBytesInFlight, c.Limits.MaxBytesInFlight, EnvShadowMaxFileBytes, c.ShadowMaxFileBytes))
	}
	if c.Limits.MaxBytesInFlightPerClient < c.ShadowMaxFileBytes && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s (%d) must be at least %s (%d): an agent could never send a shadow file of the largest size",
			EnvMaxBytesInFlightPerClient, c.Limits.MaxBytesInFlightPerClient, EnvShadowMaxFileBytes, c.ShadowMaxFileBytes))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// LoadListen reads only LIGHTHOUSE_HOST and LIGHTHOUSE_PORT.
func LoadListen(getenv func(string) string) (Listen, error) {
	l := Listen{Host: DefaultHost, Port: DefaultPort}
	if h := strings.TrimSpace(getenv(EnvHost)); h != "" {
		if net.ParseIP(h) == nil && !validHostname(h) {
			return l, fmt.Errorf("%s must be an IP address or host name, got %q", EnvHost, h)
		}
		l.Host = h
	}
	if p := strings.TrimSpace(getenv(EnvPort)); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return l, fmt.Errorf("%s must be a port number between 1 and 65535, got %q", EnvPort, p)
		}
		l.Port = n
	}
	return l, nil
}

// LoadSecret reads only LIGHTHOUSE_AUTH_SECRET. There is no default: a
// missing, short or guessable secret is an error (CheckSecret).
func LoadSecret(getenv func(string) string) ([]byte, error) {
	s := getenv(EnvAuthSecret)
	if err := CheckSecret(s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// byteCount reads a number of bytes: a decimal integer between lo and hi,
// def when unset.
func byteCount(getenv func(string) string, name string, def, lo, hi int64) (int64, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return def, fmt.Errorf("%s must be a number of bytes between %d and %d (a plain decimal integer; default %d), got %q", name, lo, hi, def, v)
	}
	return n, nil
}

func requiredPath(getenv func(string) string, name, what string) (string, error) {
	p := strings.TrimSpace(getenv(name))
	if p == "" {
		return "", fmt.Errorf("%s is required (%s)", name, what)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s must be an absolute path, got %q", name, p)
	}
	return filepath.Clean(p), nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", DefaultLogLevel:
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%s must be one of debug, info, warn, error, got %q", EnvLogLevel, s)
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}
