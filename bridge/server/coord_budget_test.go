package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// TestCoordinationIsBoundedOverHTTP: tasks of 1 MiB to made-up agents
// are refused with 429 once their dispatcher holds its share
// (LIGHTHOUSE_COORD_MAX_AGENT_BYTES) and with 507 once the total is
// reached (LIGHTHOUSE_COORD_MAX_BYTES); a pending list holds at most
// half its reader's share of the bytes in flight (the oldest, with
// "truncated"). On main the reviewer's bridge kept every such task and
// was OOM-killed after about 520.
func TestCoordinationIsBoundedOverHTTP(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.CoordMaxBytes, cfg.CoordMaxAgentBytes = 12<<20, 5<<20
	cfg.Limits.MaxBytesInFlightPerClient = 8 << 20
	r := start(t, cfg, nil)
	pad := strings.Repeat("<", 1<<20-300)
	dispatch := func(tok, to string) reply {
		return call(t, "POST", r.url+"/task/dispatch", tok, fmt.Sprintf(`{"target_agent":%q,"description":"d","data":%q}`, to, pad))
	}
	counts := map[int]int{}
	for _, who := range []string{"m1", "m2", "m3"} {
		tok := session(t, r.url, who)
		for i := range 6 {
			rep := dispatch(tok, "bob")
			counts[rep.code]++
			switch rep.code {
			case 200:
			case 429:
				if !strings.Contains(rep.raw, config.EnvCoordMaxAgentBytes) || rep.header.Get("Retry-After") == "" {
					t.Fatalf("%s's task %d: %s", who, i, rep.raw)
				}
			case 507:
				if !strings.Contains(rep.raw, config.EnvCoordMaxBytes) {
					t.Fatalf("%s's task %d: %s", who, i, rep.raw)
				}
			default:
				t.Fatalf("%s's task %d: %d %s", who, i, rep.code, rep.raw)
			}
		}
	}
	if counts[200] != 11 || counts[429] == 0 || counts[507] == 0 {
		t.Fatalf("answers %v: want 11 tasks of 1 MiB stored in 12 MiB, 4 per agent", counts)
	}
	bob := session(t, r.url, "bob")
	rep := call(t, "GET", r.url+"/task/pending", bob, "")
	if rep.code != 200 || rep.body["truncated"] != true || len(rep.raw) > 4<<20+4096 {
		t.Fatalf("bob's pending tasks: %d, %d bytes, truncated %v", rep.code, len(rep.raw), rep.body["truncated"])
	}
	if n := rep.body["count"].(float64); n < 3 || n > 4 {
		t.Fatalf("bob's pending tasks list %v of 11 in half of an 8 MiB share", n)
	}
}
