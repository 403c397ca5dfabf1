package config

import (
	"log/slog"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv() map[string]string {
	return map[string]string{
		EnvEventStorePath: "/data/events",
		EnvSnapshotPath:   "/data/snapshots",
		EnvAuthSecret:     "q0Vb7Jm2xT9pLr4Kd8Wn1Ys6Hc3Ze5Ua0Gi7Fo2Mv=", // base64 of random bytes
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "0.0.0.0" || c.Port != 8765 || c.LogLevel != slog.LevelInfo || c.MountPoint != "" {
		t.Fatalf("defaults wrong: %+v", c)
	}
	if c.ShadowMaxFileBytes != 1<<20 || c.ShadowMaxTotalBytes != 512<<20 {
		t.Fatalf("shadow limit defaults wrong: %d, %d", c.ShadowMaxFileBytes, c.ShadowMaxTotalBytes)
	}
	if c.Addr() != "0.0.0.0:8765" {
		t.Fatalf("Addr = %q", c.Addr())
	}
}

func TestLoadAll(t *testing.T) {
	m := validEnv()
	m[EnvHost] = "127.0.0.1"
	m[EnvPort] = "9000"
	m[EnvLogLevel] = "debug"
	m[EnvMountPoint] = "/mnt/shadow/"
	m[EnvShadowMaxFileBytes] = " 4194304 "
	m[EnvShadowMaxTotalBytes] = "4194304"
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "127.0.0.1" || c.Port != 9000 || c.LogLevel != slog.LevelDebug || c.MountPoint != "/mnt/shadow" {
		t.Fatalf("got %+v", c)
	}
	if c.ShadowMaxFileBytes != 4<<20 || c.ShadowMaxTotalBytes != 4<<20 {
		t.Fatalf("shadow limits: %d, %d", c.ShadowMaxFileBytes, c.ShadowMaxTotalBytes)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		name, key, val, want string
	}{
		{"missing secret", EnvAuthSecret, "", "LIGHTHOUSE_AUTH_SECRET is required"},
		{"short secret", EnvAuthSecret, "short", "LIGHTHOUSE_AUTH_SECRET is too short"},
		{"missing store", EnvEventStorePath, "", "LIGHTHOUSE_EVENT_STORE_PATH is required"},
		{"relative store", EnvEventStorePath, "data", "LIGHTHOUSE_EVENT_STORE_PATH must be an absolute path"},
		{"missing snapshots", EnvSnapshotPath, "", "LIGHTHOUSE_SNAPSHOT_PATH is required"},
		{"bad port", EnvPort, "http", "LIGHTHOUSE_PORT must be a port number"},
		{"port out of range", EnvPort, "70000", "LIGHTHOUSE_PORT must be a port number"},
		{"bad level", EnvLogLevel, "loud", "LIGHTHOUSE_LOG_LEVEL must be one of"},
		{"bad host", EnvHost, "not a host", "LIGHTHOUSE_HOST must be"},
		{"relative mount", EnvMountPoint, "mnt", "LIGHTHOUSE_MOUNT_POINT must be an absolute path"},
		{"file limit not a number", EnvShadowMaxFileBytes, "1MiB", "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES must be a number of bytes between 1 and 67108864"},
		{"file limit zero", EnvShadowMaxFileBytes, "0", "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES must be a number of bytes"},
		{"file limit negative", EnvShadowMaxFileBytes, "-1", "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES must be a number of bytes"},
		{"file limit over memory", EnvShadowMaxFileBytes, "67108865", "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES must be a number of bytes"},
		{"file limit overflow", EnvShadowMaxFileBytes, "99999999999999999999", "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES must be a number of bytes"},
		{"file limit hex", EnvShadowMaxFileBytes, "0x100", "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES must be a number of bytes"},
		{"total limit not a number", EnvShadowMaxTotalBytes, "lots", "LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES must be a number of bytes"},
		{"total limit too large", EnvShadowMaxTotalBytes, "1099511627777", "LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES must be a number of bytes"},
		{"total below one file", EnvShadowMaxTotalBytes, "1000", "LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES (1000) must be at least LIGHTHOUSE_SHADOW_MAX_FILE_BYTES (1048576)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := validEnv()
			m[tc.key] = tc.val
			_, err := Load(env(m))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(env(map[string]string{}))
	if err == nil {
		t.Fatal("empty environment accepted")
	}
	for _, v := range []string{EnvAuthSecret, EnvEventStorePath, EnvSnapshotPath} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
}

func TestLoadReadsOnlyDeclaredVariables(t *testing.T) {
	declared := map[string]bool{}
	for _, v := range Variables() {
		declared[v] = true
	}
	if len(declared) != 9+8+len(limitVariables) {
		t.Fatalf("Variables() = %v, want the contract's 7, the 2 shadow limits, the 8 budgets and the limits' %d", Variables(), len(limitVariables))
	}
	m := validEnv()
	read := map[string]bool{}
	_, err := Load(func(k string) string { read[k] = true; return m[k] })
	if err != nil {
		t.Fatal(err)
	}
	for k := range read {
		if !declared[k] {
			t.Errorf("Load read %s, which Variables() does not list", k)
		}
	}
	for k := range declared {
		if !read[k] {
			t.Errorf("Variables() lists %s, which Load never reads", k)
		}
	}
}

func TestHealthcheckAndTokenNeedLittle(t *testing.T) {
	l, err := LoadListen(env(map[string]string{EnvPort: "8000"}))
	if err != nil || l.Port != 8000 || l.Host != DefaultHost {
		t.Fatalf("LoadListen = %+v, %v", l, err)
	}
	if _, err := LoadSecret(env(map[string]string{EnvAuthSecret: validEnv()[EnvAuthSecret]})); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetsFromTheEnvironment(t *testing.T) {
	m := validEnv()
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.ShadowMaxPathDepth != 64 || c.ShadowMaxIndexBytes != 128<<20 || c.ShadowAgentShare != 50 || c.CoordMaxBytes != 64<<20 ||
		c.CoordMaxAgentBytes != 16<<20 || c.EventStoreMinFree != 64<<20 || c.QueryScanLimit != 10000 || c.MemoryLimit != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	for k, v := range map[string]string{EnvShadowMaxPathDepth: "8", EnvShadowMaxIndexBytes: "2097152", EnvShadowAgentShare: "100",
		EnvCoordMaxBytes: "4194304", EnvCoordMaxAgentBytes: "1048576", EnvEventStoreMinFree: "0", EnvQueryScanLimit: "500", EnvMemoryLimit: "1073741824"} {
		m[k] = v
	}
	c, err = Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.ShadowMaxPathDepth != 8 || c.ShadowMaxIndexBytes != 2<<20 || c.ShadowAgentShare != 100 || c.CoordMaxBytes != 4<<20 ||
		c.CoordMaxAgentBytes != 1<<20 || c.EventStoreMinFree != 0 || c.QueryScanLimit != 500 || c.MemoryLimit != 1<<30 {
		t.Fatalf("set: %+v", c)
	}
	for k, v := range map[string]string{EnvShadowMaxPathDepth: "0", EnvShadowAgentShare: "101", EnvCoordMaxAgentBytes: "134217728",
		EnvQueryScanLimit: "10", EnvMemoryLimit: "1Gi", EnvShadowMaxIndexBytes: "-1"} {
		m := validEnv()
		m[k] = v
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
