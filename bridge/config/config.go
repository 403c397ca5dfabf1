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
)

// Defaults of the optional variables.
const (
	DefaultHost     = "0.0.0.0"
	DefaultPort     = 8765
	DefaultLogLevel = "info"
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
	var lerrs []error
	c.Limits, lerrs = LoadLimits(getenv)
	errs = append(errs, lerrs...)
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
// missing or short secret is an error.
func LoadSecret(getenv func(string) string) ([]byte, error) {
	s := getenv(EnvAuthSecret)
	if s == "" {
		return nil, fmt.Errorf("%s is required (at least %d bytes)", EnvAuthSecret, MinSecretBytes)
	}
	if len(s) < MinSecretBytes {
		return nil, fmt.Errorf("%s is too short: %d bytes, at least %d required", EnvAuthSecret, len(s), MinSecretBytes)
	}
	return []byte(s), nil
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
