package api

import (
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// TestWritesStopBeforeTheDiskIsFull: below Limits.MinFreeBytes free on
// the store's volume every authenticated write is 507 naming
// LIGHTHOUSE_EVENT_STORE_MIN_FREE_BYTES, and nothing is stored; reads and
// session creation go on, and writes resume once space is back. On main
// the log grew until the disk was full.
func TestWritesStopBeforeTheDiskIsFull(t *testing.T) {
	e := newEnv(t)
	free := int64(1 << 30)
	e.srv.freeSpace = func() (int64, error) { return free, nil }
	e.srv.limits.MinFreeBytes = 64 << 20
	tok := e.session("alice", false)
	if code, b := e.do("POST", "/event/store", tok, `{"event_type":"note","data":1}`); code != 200 {
		t.Fatalf("with space: %d %s", code, b)
	}
	free = 10 << 20
	last := e.store.LastSequence()
	for _, w := range [][2]string{{"POST /event/store", `{"event_type":"note","data":2}`}, {"POST /validate", `{"tool_name":"Read","tool_input":{}}`}} {
		m, p, _ := strings.Cut(w[0], " ")
		code, b := e.do(m, p, tok, w[1])
		if code != 507 || !strings.Contains(string(b), config.EnvEventStoreMinFree) {
			t.Fatalf("%s with 10 MiB free: %d %s", w[0], code, b)
		}
	}
	if e.store.LastSequence() != last {
		t.Fatal("a refused write was stored")
	}
	if code, b := e.do("GET", "/event/query?limit=1", tok, ""); code != 200 {
		t.Fatalf("a read with the volume full: %d %s", code, b)
	}
	e.session("bob", false) // session creation goes on
	free = 1 << 30
	if code, b := e.do("POST", "/event/store", tok, `{"event_type":"note","data":3}`); code != 200 {
		t.Fatalf("once space is back: %d %s", code, b)
	}
}
