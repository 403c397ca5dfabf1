package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ev(typ, agent string) Event {
	return Event{Type: typ, AgentID: agent, Data: json.RawMessage(`{"n":1}`)}
}

func TestAppendAssignsSequenceIDAndTime(t *testing.T) {
	s := open(t, t.TempDir())
	got, err := s.Append(context.Background(), ev("a", "x"), ev("b", "y"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Sequence != 1 || got[1].Sequence != 2 {
		t.Fatalf("sequences: %+v", got)
	}
	if got[0].ID == "" || got[0].ID == got[1].ID || got[0].Timestamp.IsZero() {
		t.Fatalf("ids/timestamps not assigned: %+v", got)
	}
	if s.LastSequence() != 2 {
		t.Fatalf("LastSequence = %d", s.LastSequence())
	}
}

func TestSequenceContinuesAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.Append(context.Background(), ev("a", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if s.LastSequence() != 5 {
		t.Fatalf("LastSequence after reopen = %d, want 5", s.LastSequence())
	}
	got, err := s.Append(context.Background(), ev("a", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Sequence != 6 {
		t.Fatalf("sequence after reopen = %d, want 6", got[0].Sequence)
	}
}

func TestSecondOpenFailsFastWithClearError(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "is locked by another lighthouse-bridge process") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("unclear message: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("second Open took %v", time.Since(start))
	}
}

func TestConcurrentAppendsAreGapFreeAndGroupCommitted(t *testing.T) {
	var mu sync.Mutex
	commits := 0
	s, err := Open(t.TempDir(), Options{OnCommit: func(int, time.Duration) { mu.Lock(); commits++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const workers, each = 32, 20
	var wg sync.WaitGroup
	seen := make(chan uint64, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				got, err := s.Append(context.Background(), ev("t", "a"))
				if err != nil {
					t.Error(err)
					return
				}
				seen <- got[0].Sequence
			}
		}()
	}
	wg.Wait()
	close(seen)
	set := map[uint64]bool{}
	for q := range seen {
		if set[q] {
			t.Fatalf("sequence %d handed out twice", q)
		}
		set[q] = true
	}
	for q := uint64(1); q <= workers*each; q++ {
		if !set[q] {
			t.Fatalf("gap at %d", q)
		}
	}
	if commits >= workers*each {
		t.Errorf("%d commits for %d appends: no group commit", commits, workers*each)
	}
	t.Logf("%d appends in %d commits", workers*each, commits)
}

type recorder struct {
	mu   sync.Mutex
	seqs []uint64
}

func (r *recorder) Apply(e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs = append(r.seqs, e.Sequence)
	return nil
}

func TestAttachReplaysThenFollowsWithoutGapsOrRepeats(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		s.Append(ctx, ev("a", "x"))
	}
	// Eight appenders, so batches of several requests are committed by
	// the writer while the applier still applies the previous one.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				s.Append(ctx, ev("a", "x"))
			}
		}()
	}
	full, tail := &recorder{}, &recorder{}
	if err := s.Attach(0, full); err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(4, tail); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	check := func(name string, r *recorder, first uint64) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, q := range r.seqs {
			if q != first+uint64(i) {
				t.Fatalf("%s: position %d has sequence %d, want %d", name, i, q, first+uint64(i))
			}
		}
		if last := r.seqs[len(r.seqs)-1]; last != 210 {
			t.Fatalf("%s: last applied %d, want 210", name, last)
		}
	}
	check("full", full, 1)
	check("tail", tail, 5)
}

func TestQueryFilters(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		e := ev([]string{"file_modified", "task_started"}[i%2], []string{"alice", "bob", "carol"}[i%3])
		e.AggregateID = fmt.Sprintf("agg%d", i%2)
		clock = now.Add(time.Duration(i) * time.Minute)
		if _, err := s.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(f Filter) string {
		evs, err := s.Query(f)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, e := range evs {
			fmt.Fprintf(&b, "%d,", e.Sequence)
		}
		return b.String()
	}
	cases := []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "1,2,3,4,5,6,"},
		{"type", Filter{Type: "task_started"}, "2,4,6,"},
		{"agent", Filter{AgentID: "alice"}, "1,4,"},
		{"aggregate", Filter{AggregateID: "agg0"}, "1,3,5,"},
		{"since", Filter{Since: 4}, "5,6,"},
		{"start", Filter{Start: now.Add(3 * time.Minute)}, "4,5,6,"},
		{"end", Filter{End: now.Add(1 * time.Minute)}, "1,2,"},
		{"limit", Filter{Limit: 2}, "1,2,"},
		{"combined", Filter{Type: "file_modified", AgentID: "carol"}, "3,"},
		{"none", Filter{AgentID: "nobody"}, ""},
	}
	for _, tc := range cases {
		if got := seqs(tc.f); got != tc.want {
			t.Errorf("%s: got %s want %s", tc.name, got, tc.want)
		}
	}
}

func TestBackupRestores(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		s.Append(ctx, ev("a", "x"))
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := open(t, dir)
	if r.LastSequence() != 3 {
		t.Fatalf("restored LastSequence = %d", r.LastSequence())
	}
}

func TestWaitAndClose(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background(), 0) }()
	s.Append(context.Background(), ev("a", "x"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() { done <- s.Wait(context.Background(), 1) }()
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	if _, err := s.Append(context.Background(), ev("a", "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if s.Healthy() == nil {
		t.Fatal("closed store reports healthy")
	}
}

func TestBatchKeepsEveryEventsData(t *testing.T) {
	s := open(t, t.TempDir())
	var in []Event
	for i := 0; i < 300; i++ {
		in = append(in, Event{Type: "t", Data: json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", i%17)))})
	}
	if _, err := s.Append(context.Background(), in...); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("%d events back, want %d", len(got), len(in))
	}
	for i := range in {
		if string(got[i].Data) != string(in[i].Data) {
			t.Fatalf("event %d data %s, want %s", i, got[i].Data, in[i].Data)
		}
	}
}

// TestIndexedQueryEqualsScan holds every filter combination served from an
// index equal to a plain scan of the log.
func TestIndexedQueryEqualsScan(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"a", "b", "a_b", "ab"}
	agents := []string{"", "x", "x0", "y"}
	aggs := []string{"", "k", "k\x00\x00\x00\x00\x00\x00\x00", "kk"}
	var batch []Event
	for i := 0; i < 400; i++ {
		batch = append(batch, Event{Type: types[rng.IntN(4)], AgentID: agents[rng.IntN(4)], AggregateID: aggs[rng.IntN(4)], Data: json.RawMessage("1")})
		if len(batch) == 37 || i == 399 {
			if _, err := s.Append(context.Background(), batch...); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	check := func(s *Store) {
		all, err := s.Query(Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range append(types, "", "none") {
			for _, ag := range append(agents, "none") {
				for _, agg := range append(aggs, "none") {
					for _, since := range []uint64{0, 17, 390} {
						for _, limit := range []int{0, 5} {
							f := Filter{Type: typ, AgentID: ag, AggregateID: agg, Since: since, Limit: limit}
							var want []uint64
							for _, e := range all {
								if e.Sequence > since && f.Match(e) && (limit == 0 || len(want) < limit) {
									want = append(want, e.Sequence)
								}
							}
							got, err := s.Query(f)
							if err != nil {
								t.Fatal(err)
							}
							var gs []uint64
							for _, e := range got {
								gs = append(gs, e.Sequence)
							}
							if fmt.Sprint(gs) != fmt.Sprint(want) {
								t.Fatalf("%+v: got %v want %v", f, gs, want)
							}
						}
					}
				}
			}
		}
	}
	check(s)
	// A store without indexes (written before they existed) is indexed on open.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.DeleteBucket(bucketByAgent)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	check(s)
}

func TestBadEventFailsAloneAndMaxSinceIsEmpty(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ev("t", "a")
			if i%5 == 0 {
				e.Metadata = json.RawMessage(`{not json`)
			}
			_, errs[i] = s.Append(ctx, e)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%5 == 0) != (err != nil) {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if s.LastSequence() != 16 || s.Healthy() != nil {
		t.Fatalf("last %d, healthy %v: a bad event disturbed the others", s.LastSequence(), s.Healthy())
	}
	all, _ := s.Query(Filter{})
	for i, e := range all {
		if e.Sequence != uint64(i+1) {
			t.Fatalf("gap at %d: %d", i, e.Sequence)
		}
	}
	for _, f := range []Filter{{Since: math.MaxUint64}, {Since: math.MaxUint64, Type: "t"}} {
		if got, err := s.Query(f); err != nil || len(got) != 0 {
			t.Fatalf("since max: %d events, %v", len(got), err)
		}
	}
}
