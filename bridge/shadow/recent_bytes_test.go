package shadow

import (
	"encoding/json"
	"strings"
	"testing"
)

// ringBytes is the JSON the ring holds.
func ringBytes(p *Projection) (n int64) {
	for _, re := range p.Recent() {
		n += int64(len(re.JSON))
	}
	return n
}

// TestRecentRingIsBoundedByBytes: events may carry up to 1 MiB each, so
// the recent ring (events/ in the view) is bounded by bytes as well as by
// count: with the defaults, 300 events of 100 KiB leave at most
// DefaultRecentBytes in it (the ring held all 30 MiB before; 1,000 events
// of 1 MiB were 1 GiB, the deploy's memory), the newest kept, in order.
func TestRecentRingIsBoundedByBytes(t *testing.T) {
	l := &log{t: t}
	pad := strings.Repeat("x", 100<<10)
	for i := range 300 {
		l.add("build_log", map[string]any{"i": i, "pad": pad})
	}
	p := newP(Options{})
	replay(t, p, l.events)
	rec := p.Recent()
	if n := ringBytes(p); n > DefaultRecentBytes || n < DefaultRecentBytes/2 {
		t.Fatalf("ring holds %d bytes in %d events, want at most %d (and most of it used)", n, len(rec), DefaultRecentBytes)
	}
	if rec[len(rec)-1].Seq != 300 {
		t.Errorf("newest entry %d, want 300", rec[len(rec)-1].Seq)
	}
	for i := 1; i < len(rec); i++ {
		if rec[i].Seq != rec[i-1].Seq+1 {
			t.Fatalf("ring not consecutive at %d: %d after %d", i, rec[i].Seq, rec[i-1].Seq)
		}
	}
	if _, ok := p.RecentEvent(rec[0].Seq - 1); ok {
		t.Errorf("event %d, dropped, still found", rec[0].Seq-1)
	}
	if re, ok := p.RecentEvent(rec[0].Seq); !ok || re.Seq != rec[0].Seq {
		t.Errorf("oldest kept event %d not found", rec[0].Seq)
	}

	// A snapshot of that ring restored under a smaller bound keeps to it.
	data, err := p.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	small := newP(Options{RecentBytes: 1 << 20})
	if err := small.RestoreSnapshot(data); err != nil {
		t.Fatal(err)
	}
	if n := ringBytes(small); n > 1<<20 || len(small.Recent()) == 0 || small.Recent()[len(small.Recent())-1].Seq != 300 {
		t.Errorf("restored under 1 MiB: %d bytes, %d events", n, len(small.Recent()))
	}
}

// TestRecentEventLargerThanTheBoundIsAStub: an event whose JSON alone
// passes the bound is kept as a stub: valid JSON naming the event, its
// type and where to read it, within the bound.
func TestRecentEventLargerThanTheBoundIsAStub(t *testing.T) {
	l := &log{t: t}
	l.add("build_log", map[string]string{"pad": strings.Repeat("y", 8000)})
	l.add("small", map[string]string{"a": "b"})
	p := newP(Options{RecentBytes: 1000})
	replay(t, p, l.events)
	rec := p.Recent()
	if len(rec) != 2 || ringBytes(p) > 1000 {
		t.Fatalf("ring %d entries, %d bytes", len(rec), ringBytes(p))
	}
	var stub map[string]any
	if err := json.Unmarshal(rec[0].JSON, &stub); err != nil || stub["event_type"] != "build_log" || stub["sequence"] != float64(1) ||
		!strings.Contains(stub["omitted"].(string), "GET /event/query?since=0&limit=1") || rec[0].Type != "build_log" {
		t.Errorf("stub %s (%v), type %q", rec[0].JSON, err, rec[0].Type)
	}
}
