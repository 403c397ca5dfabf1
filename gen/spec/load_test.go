package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue/errors"
	"github.com/google/go-cmp/cmp"
)

// TestBridgeSpecMatchesContract holds the embedded spec to the bridge's
// contract (shared/bridge-contract.md): port, health, env, volumes, FUSE.
func TestBridgeSpecMatchesContract(t *testing.T) {
	s, err := Load(Options{})
	if err != nil {
		t.Fatal(errors.Details(err, nil))
	}
	if s.Name != "lighthouse-bridge" || s.Entry.Binary != "lighthouse-bridge" || !cmp.Equal(s.Entry.Args, []string{"serve"}) {
		t.Errorf("entry = %q %+v", s.Name, s.Entry)
	}
	if p, ok := s.Port("api"); !ok || p.Number != 8765 || p.Protocol != "TCP" {
		t.Errorf("port api = %+v, %v", p, ok)
	}
	wantHealth := Health{Port: "api", Liveness: "/health", Readiness: "/status",
		Interval: 30 * time.Second, Timeout: 10 * time.Second, StartPeriod: 30 * time.Second, Retries: 3}
	if d := cmp.Diff(wantHealth, s.Health); d != "" {
		t.Errorf("health (-want +got):\n%s", d)
	}
	type ev struct {
		Name, Value      string
		Required, Secret bool
		HasValue         bool
	}
	var got []ev
	for _, e := range s.Env {
		got = append(got, ev{e.Name, e.Value, e.Required, e.Secret, e.HasValue})
	}
	want := []ev{
		{"LIGHTHOUSE_HOST", "0.0.0.0", false, false, true},
		{"LIGHTHOUSE_PORT", "8765", false, false, true},
		{"LIGHTHOUSE_LOG_LEVEL", "info", false, false, true},
		{"LIGHTHOUSE_EVENT_STORE_PATH", "/var/lib/lighthouse/events", true, false, true},
		{"LIGHTHOUSE_SNAPSHOT_PATH", "/var/lib/lighthouse/snapshots", true, false, true},
		{"LIGHTHOUSE_MOUNT_POINT", "/mnt/lighthouse/project", false, false, true},
		{"LIGHTHOUSE_AUTH_SECRET", "", true, true, false},
		{"LIGHTHOUSE_SHADOW_MAX_FILE_BYTES", "1048576", false, false, true},
		{"LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES", "536870912", false, false, true},
		// The budgets (review of issue #11), each with the bridge's default.
		{"LIGHTHOUSE_SHADOW_MAX_PATH_DEPTH", "64", false, false, true},
		{"LIGHTHOUSE_SHADOW_MAX_INDEX_BYTES", "134217728", false, false, true},
		{"LIGHTHOUSE_SHADOW_AGENT_SHARE", "50", false, false, true},
		{"LIGHTHOUSE_COORD_MAX_BYTES", "67108864", false, false, true},
		{"LIGHTHOUSE_COORD_MAX_AGENT_BYTES", "16777216", false, false, true},
		{"LIGHTHOUSE_EVENT_STORE_MIN_FREE_BYTES", "67108864", false, false, true},
		{"LIGHTHOUSE_QUERY_SCAN_LIMIT", "10000", false, false, true},
		{"LIGHTHOUSE_MEMORY_LIMIT", "", false, false, true},
		// The limits (issue #11), each with the bridge's default.
		{"LIGHTHOUSE_MAX_CONNECTIONS", "4096", false, false, true},
		{"LIGHTHOUSE_MAX_CONNECTIONS_PER_CLIENT", "256", false, false, true},
		{"LIGHTHOUSE_MAX_BYTES_IN_FLIGHT", "67108864", false, false, true},
		{"LIGHTHOUSE_MAX_BYTES_IN_FLIGHT_PER_CLIENT", "16777216", false, false, true},
		{"LIGHTHOUSE_MAX_HEADER_BYTES", "16384", false, false, true},
		{"LIGHTHOUSE_HEADER_TIMEOUT", "10s", false, false, true},
		{"LIGHTHOUSE_READ_TIMEOUT", "60s", false, false, true},
		{"LIGHTHOUSE_IDLE_TIMEOUT", "60s", false, false, true},
		{"LIGHTHOUSE_MAX_STREAMS", "512", false, false, true},
		{"LIGHTHOUSE_MAX_STREAMS_PER_AGENT", "8", false, false, true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if s.FUSE == nil || s.FUSE.MountPoint != "/mnt/lighthouse/project" {
		t.Errorf("fuse = %+v", s.FUSE)
	}
	if len(s.Security.Capabilities) != 1 || s.Security.Capabilities[0].Name != "SYS_ADMIN" || s.Security.Capabilities[0].Reason == "" {
		t.Errorf("capabilities = %+v", s.Security.Capabilities)
	}
	if len(s.Security.Devices) != 1 || s.Security.Devices[0].Name != "/dev/fuse" {
		t.Errorf("devices = %+v", s.Security.Devices)
	}
	wantRes := Resources{CPURequest: "500m", CPULimit: "2", MemoryRequest: "512Mi", MemoryLimit: "1Gi"}
	if s.Resources != wantRes {
		t.Errorf("resources = %+v", s.Resources)
	}
	for _, k := range []string{"service", "component", "version", "maintainer"} {
		if s.Labels[k] == "" {
			t.Errorf("label %s missing", k)
		}
	}
	if s.Workload.Replicas != 1 || s.Workload.Kind != "StatefulSet" {
		t.Errorf("workload = %+v", s.Workload)
	}
	if len(s.Digest) != 64 {
		t.Errorf("digest = %q", s.Digest)
	}
	if pos := s.Pos("env.LIGHTHOUSE_PORT"); !strings.HasSuffix(pos.Filename(), "bridge/bridge.cue") || pos.Line() == 0 {
		t.Errorf("position of env.LIGHTHOUSE_PORT = %v", pos)
	}
}

// TestTagsOverrideImages checks that -t tags reach the model like `cue -t`.
func TestTagsOverrideImages(t *testing.T) {
	s, err := Load(Options{Tags: []string{"runtime_base=lighthouse-base:local", "dockerfile_mode=prebuilt", "version=1.2.3"}})
	if err != nil {
		t.Fatal(errors.Details(err, nil))
	}
	if s.Image.Runtime != "lighthouse-base:local" || s.Image.Mode != "prebuilt" || s.Image.Ref != "lighthouse-bridge:1.2.3" || s.Labels["version"] != "1.2.3" {
		t.Errorf("image = %+v labels = %v", s.Image, s.Labels)
	}
	if _, err := Load(Options{Tags: []string{"dockerfile_mode=sideways"}}); err == nil {
		t.Error("an invalid dockerfile_mode was accepted")
	}
	if _, err := Load(Options{Tags: []string{"nosuchtag=1"}}); err == nil {
		t.Error("an unknown tag was accepted")
	}
}

// TestSpecFromDiskEqualsEmbedded loads ../../cue/bridge from disk: the
// embedded copy must be the same spec.
func TestSpecFromDiskEqualsEmbedded(t *testing.T) {
	emb, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	disk, err := Load(Options{Dir: filepath.Join("..", "..", "cue", "bridge")})
	if err != nil {
		t.Fatal(errors.Details(err, nil))
	}
	if emb.Digest != disk.Digest {
		t.Errorf("digests differ: embedded %s, disk %s", emb.Digest, disk.Digest)
	}
}

// TestOutsideModuleSpecGetsSchema checks that a spec folder outside the CUE
// module is still held to #Service.
func TestOutsideModuleSpecGetsSchema(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spec.cue"), []byte("package x\nname: \"Bad Name\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{Dir: dir})
	if err == nil {
		t.Fatal("a spec violating #Service loaded")
	}
	if d := errors.Details(err, nil); !strings.Contains(d, "spec.cue:2:") {
		t.Errorf("error lacks the spec position:\n%s", d)
	}
}
