// Package server assembles a running Bridge from its parts: it opens the
// event store, replays the log through every projection, builds the HTTP
// API, serves it, and shuts everything down in order on a signal. Shadow
// files, the FUSE view, snapshots, backup (parts.go) and coordination are
// built in; further parts plug in between New and Serve: AddProjection,
// AddSnapshotComponent, API().Handle, API().SetComponent,
// Validator().SetEscalator, OnShutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
	"github.com/lighthouse-project/lighthouse/bridge/fusefs"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
	"github.com/lighthouse-project/lighthouse/bridge/validate"
)

// DefaultGracePeriod is the default Options.GracePeriod: well inside the
// 30 s a container runtime waits between SIGTERM and SIGKILL.
const DefaultGracePeriod = 10 * time.Second

// Options are the Go-level tunables; the environment only supplies config.Config.
type Options struct {
	Logger *slog.Logger
	// GracePeriod bounds the whole shutdown: in-flight requests, the
	// snapshot being written, the FUSE view, the store's close. Default
	// DefaultGracePeriod.
	GracePeriod time.Duration
	// Now is the clock (tests move it). Default time.Now.
	Now func() time.Time
	// EscalationTimeout is how long /validate waits for an expert. Default 30s.
	EscalationTimeout time.Duration
	// SnapshotEvery is the number of events between snapshots; 0 means
	// DefaultSnapshotEvery, negative disables snapshots (every start-up
	// then replays the whole log).
	SnapshotEvery int
	// SnapshotKeep is how many snapshot files are kept. Default 2.
	SnapshotKeep int
}

// Bridge is one assembled service.
type Bridge struct {
	cfg       config.Config
	opts      Options
	log       *slog.Logger
	store     *store.Store
	sessions  *auth.Sessions
	auth      *auth.Manager
	validator *validate.Validator
	coord     *coord.Coordinator
	metrics   *api.Metrics
	api       *api.Server
	shadow    *shadow.Projection
	snapper   *snapshotter

	mu          sync.Mutex
	projections []store.Projection
	replayFrom  uint64
	onShutdown  []func(context.Context) error
	started     bool
	snapComps   []snapshot.Component
	fuse        *fusefs.FS
}

// New opens the store (taking its lock) and builds the API. Nothing is
// replayed until Serve, so projections can still be added.
func New(cfg config.Config, opts Options) (*Bridge, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGracePeriod
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if err := os.MkdirAll(cfg.SnapshotPath, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvSnapshotPath, err)
	}
	if cfg.ShadowMaxFileBytes <= 0 {
		cfg.ShadowMaxFileBytes = config.DefaultShadowMaxFileBytes
	}
	if cfg.ShadowMaxTotalBytes <= 0 {
		cfg.ShadowMaxTotalBytes = config.DefaultShadowMaxTotalBytes
	}
	m := api.NewMetrics()
	st, err := store.Open(cfg.EventStorePath, store.Options{Logger: opts.Logger, Now: opts.Now, OnCommit: m.ObserveCommit,
		MaxBlobBytes: cfg.ShadowMaxTotalBytes})
	if err != nil {
		return nil, storeError(cfg, err)
	}
	b := &Bridge{cfg: cfg, opts: opts, log: opts.Logger, store: st, metrics: m}
	b.sessions = auth.NewSessions()
	b.auth = auth.NewManager(cfg.AuthSecret, b.sessions, st, opts.Now)
	b.validator = validate.New(validate.Options{EscalationTimeout: opts.EscalationTimeout})
	b.api = api.New(api.Options{Store: st, Auth: b.auth, Validator: b.validator, Metrics: m, Logger: opts.Logger, Now: opts.Now,
		Limits: api.Limits{MaxBytesInFlight: cfg.Limits.MaxBytesInFlight, MaxBytesInFlightPerClient: cfg.Limits.MaxBytesInFlightPerClient,
			BodyStall: cfg.Limits.HeaderTimeout, ReadTimeout: cfg.Limits.ReadTimeout,
			MaxStreams: cfg.Limits.MaxStreams, MaxStreamsPerAgent: cfg.Limits.MaxStreamsPerAgent,
			MinFreeBytes: cfg.EventStoreMinFree, ScanLimit: cfg.QueryScanLimit},
		FreeSpace: func() (int64, error) { return freeSpace(cfg.EventStorePath) }})
	b.coord = coord.New(coord.Options{Store: st, Now: opts.Now, Stopping: b.api.Stopping(),
		Limits: coord.Limits{MaxBytes: cfg.CoordMaxBytes, MaxAgentBytes: cfg.CoordMaxAgentBytes}})
	b.api.AddCoordination(b.coord)
	b.validator.SetEscalator(b.coord)
	b.shadow = shadow.New(shadow.Options{Blobs: st, MaxFileBytes: cfg.ShadowMaxFileBytes, MaxContentBytes: cfg.ShadowMaxTotalBytes,
		MaxPathDepth: cfg.ShadowMaxPathDepth, MaxIndexBytes: cfg.ShadowMaxIndexBytes, AgentShare: cfg.ShadowAgentShare})
	b.projections = []store.Projection{b.sessions, b.coord, b.shadow}
	b.snapComps = []snapshot.Component{sessionsSection{b.sessions}, coordSection{b.coord}, b.shadow}
	b.api.EnableShadow(b.shadow)
	snap := cfg.SnapshotPath
	b.api.SetComponent("snapshots", false, func(context.Context) error {
		fi, err := os.Stat(snap)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", snap)
		}
		return nil
	})
	if cfg.MountPoint != "" {
		// Until Serve mounts the view, a configured mount is not ready.
		b.api.SetComponent("fuse_mount", true, func(context.Context) error {
			return errors.New("not mounted")
		})
	} else {
		b.api.SetComponent("fuse_mount", false, func(context.Context) error { return api.ErrDisabled })
	}
	return b, nil
}

// Store is the event store.
func (b *Bridge) Store() *store.Store { return b.store }

// API is the HTTP server, for adding routes and readiness components.
func (b *Bridge) API() *api.Server { return b.api }

// Sessions is the session projection (for snapshots).
func (b *Bridge) Sessions() *auth.Sessions { return b.sessions }

// Validator is the command validator (to install an Escalator).
func (b *Bridge) Validator() *validate.Validator { return b.validator }

// Coordination is the coordination projection (experts, delegations,
// tasks, collaborations, elicitations), for snapshots: MarshalState and
// RestoreState.
func (b *Bridge) Coordination() *coord.Coordinator { return b.coord }

// Metrics are the Prometheus metrics.
func (b *Bridge) Metrics() *api.Metrics { return b.metrics }

// Logger is the Bridge's logger.
func (b *Bridge) Logger() *slog.Logger { return b.log }

// Config is the configuration the Bridge runs with.
func (b *Bridge) Config() config.Config { return b.cfg }

// AddProjection registers a projection to be replayed at Serve and fed
// every later event. Call before Serve.
func (b *Bridge) AddProjection(p store.Projection) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.projections = append(b.projections, p)
}

// SetReplayStart makes Serve replay only events after seq: the snapshot
// step restores the projections' state to seq first.
func (b *Bridge) SetReplayStart(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.replayFrom = seq
}

// OnShutdown registers f to run after HTTP has drained and before the
// store closes (the FUSE view unmounts here).
func (b *Bridge) OnShutdown(f func(context.Context) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onShutdown = append(b.onShutdown, f)
}

// Serve replays the log into the projections, then serves HTTP on ln until
// ctx is cancelled, then shuts down: stop accepting, let in-flight
// requests finish within the grace period, run the shutdown hooks, close
// the store. It returns nil after a clean shutdown.
func (b *Bridge) Serve(ctx context.Context, ln net.Listener) error {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return errors.New("bridge already served")
	}
	b.started = true
	ps, from := append([]store.Projection(nil), b.projections...), b.replayFrom
	b.mu.Unlock()

	if err := b.prepare(from, ps); err != nil {
		b.store.Close()
		return err
	}

	srv, probe, lln := b.httpServers(ln)
	srv.RegisterOnShutdown(b.api.BeginShutdown)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lln) }()
	go probe.Serve(lln.Overflow())
	b.log.Info("lighthouse-bridge serving", "addr", ln.Addr().String(), "mount_point", b.cfg.MountPoint)

	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		b.log.Info("shutting down", "grace_period", b.opts.GracePeriod.String())
	}
	if err := b.shutdown(srv, probe); err != nil && serveErr == nil {
		serveErr = err
	}
	b.log.Info("lighthouse-bridge stopped", "last_sequence", b.store.LastSequence())
	return serveErr
}

// shutdown stops everything Serve started within the grace period, each
// wait bounded: the probe path closes at once (it holds no request worth
// finishing), HTTP drains until the grace period less a reserve (open
// streams end at once, slow clients are cut off at the deadline), then
// the shutdown hooks (snapshot writer, FUSE view) and the store's close
// share what is left. A hook that overruns is abandoned with an error in
// the log; a store that cannot close in time (a commit stuck in I/O) is
// an error, and the process exits without it: its lock dies with the
// process and no acknowledged event depends on the close.
func (b *Bridge) shutdown(srv, probe *http.Server) error {
	grace := b.opts.GracePeriod
	deadline := time.Now().Add(grace)
	hctx, hcancel := context.WithDeadline(context.Background(), deadline.Add(-min(grace/4, 2*time.Second)))
	defer hcancel()
	probe.Close()
	if err := srv.Shutdown(hctx); err != nil {
		b.log.Warn("in-flight requests did not finish within the grace period; closing their connections", "error", err)
		srv.Close()
	}
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	b.mu.Lock()
	hooks := b.onShutdown
	b.mu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := bounded(sctx, hooks[i]); err != nil {
			b.log.Error("shutdown hook failed", "error", err)
		}
	}
	// The store gets at least a moment even when the hooks used it all:
	// closing commits what is queued, normally in milliseconds.
	cctx, ccancel := context.WithTimeout(context.Background(), max(time.Until(deadline), grace/10, 100*time.Millisecond))
	defer ccancel()
	if err := b.store.CloseContext(cctx); err != nil {
		b.log.Error("closing event store", "error", err)
		return err
	}
	return nil
}

// bounded runs f(ctx) and returns its error, or ctx's once ctx ends even
// if f has not returned (f keeps running on its own goroutine).
func bounded(ctx context.Context, f func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("did not finish within the grace period: %w", ctx.Err())
	}
}

// prepare is start-up up to serving: restore the newest snapshot, replay
// the rest of the log through the projections, mount the FUSE view. On
// error nothing is left running but the store, which the caller closes.
func (b *Bridge) prepare(from uint64, ps []store.Projection) error {
	start := time.Now()
	from, ps, err := b.startParts(from, ps)
	if err != nil {
		return err
	}
	// Replay never stops at an event a projection cannot apply: see tolerant.
	if err := b.store.Attach(from, b.tolerate(ps)...); err != nil {
		b.stopParts()
		return storeError(b.cfg, fmt.Errorf("replay event log: %w", err))
	}
	b.log.Info("event log replayed", "from", from, "last_sequence", b.store.LastSequence(), "projections", len(ps), "took_ms", time.Since(start).Milliseconds())
	if err := b.afterReplay(); err != nil {
		b.stopParts()
		return err
	}
	return nil
}

// Close releases the store of a Bridge that was never served.
func (b *Bridge) Close() error { return b.store.Close() }

// Run is serve's whole life: build, listen on the configured address, serve
// until ctx ends.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	b, err := New(cfg, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		b.Close()
		return fmt.Errorf("listen on %s (%s, %s): %w", cfg.Addr(), config.EnvHost, config.EnvPort, err)
	}
	return b.Serve(ctx, ln)
}

// storeError names LIGHTHOUSE_EVENT_STORE_PATH in an error of the event
// store and, for a damaged or shortened log, says what to do.
func storeError(cfg config.Config, err error) error {
	prefix := config.EnvEventStorePath
	switch {
	case errors.Is(err, store.ErrDamaged):
		return fmt.Errorf("%s: %w. Restore events.db from the newest backup (GET /admin/backup) into an empty %s; "+
			"`lighthouse-bridge check` reports what is damaged", prefix, err, config.EnvEventStorePath)
	case errors.Is(err, store.ErrLost):
		return fmt.Errorf("%s: %w. Restore events.db from the newest backup (GET /admin/backup) into an empty %s; "+
			"if an older backup was restored here on purpose, remove %s to accept that the events after it are gone "+
			"(their sequence numbers will be given again)", prefix, err, config.EnvEventStorePath,
			filepath.Join(cfg.EventStorePath, store.HighWaterFile))
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// freeSpace is the space an unprivileged writer may still use on the file
// system holding dir (the event store's volume).
func freeSpace(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
