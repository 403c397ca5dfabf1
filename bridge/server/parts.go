package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/fusefs"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// DefaultSnapshotEvery is the default number of events between snapshots:
// at a few microseconds per replayed event it bounds the tail a restart
// replays to well under a second.
const DefaultSnapshotEvery = 10000

// DefaultSnapshotKeep is how many snapshot files are kept: two, so a
// damaged newest file falls back to the previous one.
const DefaultSnapshotKeep = 2

// Shadow is the shadow-file projection (read by the HTTP routes and the
// FUSE view).
func (b *Bridge) Shadow() *shadow.Projection { return b.shadow }

// FUSE is the mounted view, nil when LIGHTHOUSE_MOUNT_POINT is empty or
// before Serve has mounted it.
func (b *Bridge) FUSE() *fusefs.FS {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fuse
}

// AddSnapshotComponent adds a projection's state to every snapshot (the
// coordination part registers its experts here). Its section name must be
// unique; a snapshot lacking the section is not used, so adding a
// component costs one full replay, never a wrong state. Call before Serve,
// and register the same value with AddProjection.
func (b *Bridge) AddSnapshotComponent(c snapshot.Component) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.snapComps = append(b.snapComps, c)
}

// sessionsSection snapshots the session projection as JSON.
type sessionsSection struct{ s *auth.Sessions }

func (sessionsSection) SnapshotName() string { return "sessions" }

func (c sessionsSection) MarshalSnapshot() ([]byte, error) { return json.Marshal(c.s.State()) }

// CaptureSnapshot copies the session records (a few per agent) and
// leaves their JSON encoding to the snapshot writer.
func (c sessionsSection) CaptureSnapshot() func() ([]byte, error) {
	recs := c.s.State()
	return func() ([]byte, error) { return json.Marshal(recs) }
}

func (c sessionsSection) RestoreSnapshot(data []byte) error {
	var recs []auth.SessionRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		return fmt.Errorf("sessions snapshot: %w", err)
	}
	c.s.Restore(recs)
	return nil
}

// coordSection snapshots the coordination state (experts, delegations,
// tasks, collaborations, questions and rate windows).
type coordSection struct{ c *coord.Coordinator }

func (coordSection) SnapshotName() string { return "coordination" }

func (s coordSection) MarshalSnapshot() ([]byte, error) { return s.c.MarshalState() }

func (s coordSection) RestoreSnapshot(data []byte) error { return s.c.RestoreState(data) }

// restoreSnapshot loads the newest usable snapshot into comps and returns
// the sequence to replay after. Damaged or unusable snapshots are skipped
// with a warning; if restoring fails halfway, every component is put back
// to its empty state and the whole log is replayed.
func (b *Bridge) restoreSnapshot(snaps *snapshot.Store, comps []snapshot.Component) uint64 {
	empty := make([][]byte, len(comps))
	for i, c := range comps {
		data, err := c.MarshalSnapshot()
		if err != nil {
			b.log.Warn("snapshots not used: cannot record the empty state", "component", c.SnapshotName(), "error", err)
			return 0
		}
		empty[i] = data
	}
	start := time.Now()
	seq, warnings, err := snaps.Restore(b.store.LastSequence(), b.eventIDAt, comps...)
	for _, w := range warnings {
		b.log.Warn("snapshot skipped", "error", w.Error())
	}
	if err != nil {
		b.log.Warn("snapshot could not be restored; replaying the whole event log", "error", err)
		for i, c := range comps {
			if rerr := c.RestoreSnapshot(empty[i]); rerr != nil {
				b.log.Error("resetting after a failed snapshot restore", "component", c.SnapshotName(), "error", rerr)
			}
		}
		return 0
	}
	if seq > 0 {
		b.log.Info("snapshot restored", "sequence", seq, "took_ms", time.Since(start).Milliseconds())
	}
	return seq
}

// eventIDAt is the snapshot.LogIdentity of the bridge's event store: the
// ID of its event at seq, which a snapshot must match to be restored.
func (b *Bridge) eventIDAt(seq uint64) (string, error) {
	id, found := "", false
	if seq > 0 {
		err := b.store.ReadFrom(seq-1, func(e store.Event) error {
			if e.Sequence == seq {
				id, found = e.ID, true
			}
			return store.ErrStop
		})
		if err != nil {
			return "", err
		}
	}
	if !found {
		return "", fmt.Errorf("no event at sequence %d", seq)
	}
	return id, nil
}

// snapshotter is the last projection: every `every` events it captures
// the components on the apply path, so the state is exactly that of the
// event just applied, and hands the captures to a goroutine that encodes
// them, writes and fsyncs the file, off the commit path. A component that
// is a snapshot.Capturer costs the apply path only its capture (the shadow
// projection: time proportional to its paths, not its versions); any
// other is encoded there with MarshalSnapshot. While a write is in
// progress a newer snapshot replaces any waiting one. During start-up
// replay it only counts; the first live event after a long replay
// triggers a snapshot.
type snapshotter struct {
	b     *Bridge
	snaps *snapshot.Store
	comps []snapshot.Component
	every uint64

	mu      sync.Mutex
	origin  string // ID of the log's first event (snapshot.Snapshot.Origin)
	live    bool
	closed  bool
	last    uint64 // sequence of the newest snapshot taken (or restored)
	pending *captured
	wake    chan struct{}
	done    chan struct{}
	lastErr error
	written uint64
	// captureMax is the longest time one snapshot held the apply path
	// (every commit's answer waits that long).
	captureMax time.Duration
}

// captured is a snapshot taken on the apply path, not yet encoded.
type captured struct {
	seq     uint64
	logID   string // the event's ID: snapshot.Snapshot.LogID
	origin  string // the log's first event's ID: snapshot.Snapshot.Origin
	created time.Time
	names   []string
	encode  []func() ([]byte, error)
}

func newSnapshotter(b *Bridge, snaps *snapshot.Store, comps []snapshot.Component, every uint64, restored uint64) *snapshotter {
	s := &snapshotter{b: b, snaps: snaps, comps: comps, every: every, last: restored, origin: b.store.Origin(),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.writer()
	return s
}

func (s *snapshotter) Apply(e store.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Sequence == 1 {
		s.origin = e.ID
	}
	if !s.live || s.closed || e.Sequence < s.last+s.every {
		return nil
	}
	start := time.Now()
	defer func() { s.captureMax = max(s.captureMax, time.Since(start)) }()
	c := &captured{seq: e.Sequence, logID: e.ID, origin: s.origin, created: start.UTC()}
	for _, comp := range s.comps {
		var enc func() ([]byte, error)
		if cp, ok := comp.(snapshot.Capturer); ok {
			enc = cp.CaptureSnapshot()
		} else {
			data, err := comp.MarshalSnapshot()
			if err != nil {
				s.lastErr = fmt.Errorf("snapshot of %s at %d: %w", comp.SnapshotName(), e.Sequence, err)
				s.b.log.Error("snapshot not taken", "error", s.lastErr)
				s.last = e.Sequence // retry after another `every` events, not on each one
				return nil
			}
			enc = func() ([]byte, error) { return data, nil }
		}
		c.names = append(c.names, comp.SnapshotName())
		c.encode = append(c.encode, enc)
	}
	s.last = e.Sequence
	s.pending = c
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// snapshot runs the captured encoders (on the writer goroutine).
func (c *captured) snapshot() (*snapshot.Snapshot, error) {
	snap := &snapshot.Snapshot{Seq: c.seq, LogID: c.logID, Origin: c.origin, Created: c.created, Sections: make(map[string][]byte, len(c.names))}
	for i, name := range c.names {
		data, err := c.encode[i]()
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s at %d: %w", name, c.seq, err)
		}
		snap.Sections[name] = data
	}
	return snap, nil
}

func (s *snapshotter) goLive() {
	s.mu.Lock()
	s.live = true
	s.mu.Unlock()
}

func (s *snapshotter) writer() {
	defer close(s.done)
	for range s.wake {
		s.mu.Lock()
		c := s.pending
		s.pending = nil
		s.mu.Unlock()
		if c == nil {
			continue
		}
		start := time.Now()
		snap, err := c.snapshot()
		var path string
		if err == nil {
			path, err = s.snaps.Write(snap)
		}
		if err == nil {
			err = s.snaps.Prune()
		}
		s.mu.Lock()
		s.lastErr = err
		if err == nil {
			s.written = c.seq
		}
		s.mu.Unlock()
		if err != nil {
			s.b.log.Error("snapshot write failed", "sequence", c.seq, "error", err)
			continue
		}
		s.b.log.Info("snapshot written", "sequence", c.seq, "path", path, "took_ms", time.Since(start).Milliseconds())
	}
}

// close stops taking snapshots and waits for the one being written.
func (s *snapshotter) close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.wake)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("snapshot still being written at shutdown: %w", ctx.Err())
	}
}

// health is the "snapshots" readiness component: the last write's error.
func (s *snapshotter) health(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// startParts runs inside Serve before the replay: it restores the newest
// snapshot and returns the sequence to replay from, and the projections
// to attach (the snapshotter last, so it sees each event after all
// others).
func (b *Bridge) startParts(from uint64, ps []store.Projection) (uint64, []store.Projection, error) {
	b.mu.Lock()
	comps := append([]snapshot.Component(nil), b.snapComps...)
	b.mu.Unlock()
	every := b.opts.SnapshotEvery
	if every < 0 {
		return from, ps, nil
	}
	if every == 0 {
		every = DefaultSnapshotEvery
	}
	keep := b.opts.SnapshotKeep
	if keep <= 0 {
		keep = DefaultSnapshotKeep
	}
	snaps, err := snapshot.Open(b.cfg.SnapshotPath, keep)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", config.EnvSnapshotPath, err)
	}
	if err := b.checkLogAgainstSnapshots(snaps); err != nil {
		return 0, nil, err
	}
	if from == 0 {
		from = b.restoreSnapshot(snaps, comps)
	}
	s := newSnapshotter(b, snaps, comps, uint64(every), from)
	b.snapper = s
	b.api.SetComponent("snapshots", false, s.health)
	b.metrics.GaugeFunc("lighthouse_snapshot_last_sequence", "Sequence of the newest snapshot written by this process.", func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(s.written)
	})
	b.OnShutdown(s.close)
	return from, append(ps, s), nil
}

// afterReplay runs inside Serve once the log is replayed: shadow contents
// that events of older versions carried inline are moved into the store's
// blobs (once; see shadow.MigrateInline), snapshots go live and the FUSE
// view is mounted (a stale mount cleared first).
func (b *Bridge) afterReplay() error {
	start := time.Now()
	n, bytes, err := b.shadow.MigrateInline(b.store)
	if err != nil {
		return fmt.Errorf("%s: upgrading shadow contents to the event store's blobs: %w", config.EnvEventStorePath, err)
	}
	if n > 0 {
		b.log.Info("moved shadow contents of events written by an older version into the event store's blobs",
			"contents", n, "bytes", bytes, "took_ms", time.Since(start).Milliseconds())
	}
	if b.snapper != nil {
		b.snapper.goLive()
	}
	if b.cfg.MountPoint == "" {
		return nil
	}
	fsys, err := fusefs.Mount(b.cfg.MountPoint, b.shadow, fusefs.Options{Logger: b.log, ShowEvent: b.api.PublicEventType})
	if err != nil {
		return fmt.Errorf("%s: %w", config.EnvMountPoint, err)
	}
	b.mu.Lock()
	b.fuse = fsys
	b.mu.Unlock()
	b.api.SetComponent("fuse_mount", true, func(context.Context) error { return fsys.Healthy() })
	b.metrics.Registry.Unregister(b.metrics.FuseOperations)
	b.metrics.Registry.MustRegister(fuseCollector{fsys})
	b.OnShutdown(fsys.UnmountContext)
	return nil
}

// fuseCollector exports the view's operation counters at scrape time
// under the name of api.Metrics.FuseOperations, which it replaces.
type fuseCollector struct{ fs *fusefs.FS }

var (
	fuseOpsDesc = prometheus.NewDesc("lighthouse_fuse_operations_total", "FUSE operations by operation and result.",
		[]string{"op", "result"}, nil)
	fuseBytesDesc = prometheus.NewDesc("lighthouse_fuse_read_bytes_total", "Bytes read through the FUSE view.", nil, nil)
)

func (fuseCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fuseOpsDesc
	ch <- fuseBytesDesc
}

func (c fuseCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.fs.Ops()
	for _, m := range []struct {
		op, result string
		n          uint64
	}{
		{"lookup", "ok", o.Lookup.Load()}, {"getattr", "ok", o.Getattr.Load()}, {"readdir", "ok", o.Readdir.Load()},
		{"open", "ok", o.Open.Load()}, {"read", "ok", o.Read.Load()}, {"open", "erofs", o.Denied.Load()},
	} {
		ch <- prometheus.MustNewConstMetric(fuseOpsDesc, prometheus.CounterValue, float64(m.n), m.op, m.result)
	}
	ch <- prometheus.MustNewConstMetric(fuseBytesDesc, prometheus.CounterValue, float64(o.ReadBytes.Load()))
}

// stopParts undoes startParts when Serve fails before serving.
func (b *Bridge) stopParts() {
	if b.snapper != nil {
		b.snapper.close(context.Background())
	}
}

// writtenSeq is the sequence of the newest snapshot this process wrote.
func (s *snapshotter) writtenSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// checkLogAgainstSnapshots refuses to start on an event log the
// snapshots say is not theirs (emptied, or another store's), and warns
// when the log ends before the newest snapshot (snapshot.CheckLog).
func (b *Bridge) checkLogAgainstSnapshots(snaps *snapshot.Store) error {
	warnings, err := snaps.CheckLog(snapshot.Log{Last: b.store.LastSequence(), Origin: b.store.Origin()})
	for _, w := range warnings {
		b.log.Warn("event log behind its snapshots", "error", w.Error())
	}
	if err != nil {
		return fmt.Errorf("%s=%s and %s=%s do not belong together: %w. %s", config.EnvEventStorePath, b.cfg.EventStorePath,
			config.EnvSnapshotPath, b.cfg.SnapshotPath, err, AdviceNotThisLog)
	}
	return nil
}

// AdviceNotThisLog is what an operator does when the event store and the
// snapshots disagree.
const AdviceNotThisLog = "Restore events.db from the newest backup (GET /admin/backup) into an empty " +
	config.EnvEventStorePath + "; or, to start this event store without those snapshots on purpose, point " +
	config.EnvSnapshotPath + " at an empty directory. `lighthouse-bridge check` shows the details"
