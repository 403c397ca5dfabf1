package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimitsDefaults(t *testing.T) {
	c, err := Load(env(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxConnections: 4096, MaxConnectionsPerClient: 256, MaxBytesInFlight: 64 << 20, MaxBytesInFlightPerClient: 16 << 20, MaxHeaderBytes: 16 << 10,
		HeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: time.Minute, MaxStreams: 512, MaxStreamsPerAgent: 8}
	if c.Limits != want || DefaultLimits() != want {
		t.Fatalf("limits %+v, defaults %+v, want %+v", c.Limits, DefaultLimits(), want)
	}
}

func TestLimitsFromTheEnvironment(t *testing.T) {
	m := validEnv()
	for k, v := range map[string]string{
		EnvMaxConnections: "100", EnvMaxConnectionsPerClient: "10", EnvMaxBytesInFlight: "2097152",
		EnvMaxHeaderBytes: "8192", EnvHeaderTimeout: "2s", EnvReadTimeout: "30s", EnvIdleTimeout: "5m",
		EnvMaxStreams: "20", EnvMaxStreamsPerAgent: "2",
	} {
		m[k] = v
	}
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxConnections: 100, MaxConnectionsPerClient: 10, MaxBytesInFlight: 2 << 20, MaxBytesInFlightPerClient: 2 << 20, MaxHeaderBytes: 8192,
		HeaderTimeout: 2 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute, MaxStreams: 20, MaxStreamsPerAgent: 2}
	if c.Limits != want {
		t.Fatalf("limits %+v, want %+v", c.Limits, want)
	}
	// A small total lowers the default per-client limit with it.
	m = validEnv()
	m[EnvMaxConnections], m[EnvMaxStreams] = "10", "3"
	if c, err := Load(env(m)); err != nil || c.Limits.MaxConnectionsPerClient != 10 || c.Limits.MaxStreamsPerAgent != 3 {
		t.Fatalf("small totals: %+v, %v", c.Limits, err)
	}
}

func TestLimitsRefuseNonsense(t *testing.T) {
	cases := []struct{ key, val, want string }{
		{EnvMaxConnections, "0", "LIGHTHOUSE_MAX_CONNECTIONS must be a whole number from 1"},
		{EnvMaxConnections, "-5", "LIGHTHOUSE_MAX_CONNECTIONS must be"},
		{EnvMaxConnections, "1e3", "LIGHTHOUSE_MAX_CONNECTIONS must be"},
		{EnvMaxConnections, "99999999999999999999", "LIGHTHOUSE_MAX_CONNECTIONS must be"},
		{EnvMaxConnectionsPerClient, "5000", "LIGHTHOUSE_MAX_CONNECTIONS_PER_CLIENT (5000) must not exceed LIGHTHOUSE_MAX_CONNECTIONS"},
		{EnvMaxBytesInFlight, "1000", "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT must be a whole number from 1048576"},
		{EnvMaxBytesInFlight, "64Mi", "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT must be"},
		{EnvMaxBytesInFlightPerClient, "1000", "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT_PER_CLIENT must be a whole number from 1048576"},
		{EnvMaxBytesInFlightPerClient, "134217728", "LIGHTHOUSE_MAX_BYTES_IN_FLIGHT_PER_CLIENT (134217728) must not exceed LIGHTHOUSE_MAX_BYTES_IN_FLIGHT"},
		{EnvMaxHeaderBytes, "100", "LIGHTHOUSE_MAX_HEADER_BYTES must be"},
		{EnvHeaderTimeout, "10", "LIGHTHOUSE_HEADER_TIMEOUT must be a duration"},
		{EnvHeaderTimeout, "0s", "LIGHTHOUSE_HEADER_TIMEOUT must be a duration"},
		{EnvHeaderTimeout, "2m", "LIGHTHOUSE_HEADER_TIMEOUT (2m0s) must not exceed LIGHTHOUSE_READ_TIMEOUT"},
		{EnvReadTimeout, "1000h", "LIGHTHOUSE_READ_TIMEOUT must be a duration"},
		{EnvIdleTimeout, "soon", "LIGHTHOUSE_IDLE_TIMEOUT must be a duration"},
		{EnvMaxStreams, "0", "LIGHTHOUSE_MAX_STREAMS must be"},
		{EnvMaxStreamsPerAgent, "600", "LIGHTHOUSE_MAX_STREAMS_PER_AGENT (600) must not exceed LIGHTHOUSE_MAX_STREAMS"},
	}
	for _, tc := range cases {
		m := validEnv()
		m[tc.key] = tc.val
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: %v, want %q", tc.key, tc.val, err, tc.want)
		}
	}
}

// TestBytesInFlightHoldTheLargestShadowFile: a PUT /shadow body is
// charged to LIGHTHOUSE_MAX_BYTES_IN_FLIGHT, so a budget below the largest
// shadow file would refuse every file of that size: start-up refuses the
// pair, naming both; equal is fine.
func TestBytesInFlightHoldTheLargestShadowFile(t *testing.T) {
	e := validEnv()
	e[EnvShadowMaxFileBytes] = "8388608"
	e[EnvMaxBytesInFlight] = "4194304"
	_, err := Load(env(e))
	if err == nil || !strings.Contains(err.Error(), EnvMaxBytesInFlight) || !strings.Contains(err.Error(), EnvShadowMaxFileBytes) {
		t.Fatalf("in flight below the file limit: %v", err)
	}
	e[EnvMaxBytesInFlight] = "8388608"
	if c, err := Load(env(e)); err != nil || c.Limits.MaxBytesInFlight != c.ShadowMaxFileBytes {
		t.Fatalf("in flight equal to the file limit: %+v %v", c.Limits, err)
	}
}
