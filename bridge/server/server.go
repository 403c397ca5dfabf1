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
	"os"
	"sync"
	"time"

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

// Options are the Go-level tunables; the environment only supplies config.Config.
type Options struct {
	Logger *slog.Logger
	// GracePeriod bounds how long shutdown waits for in-flight requests.
	// Default 10s.
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
		opts.GracePeriod = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if err := os.MkdirAll(cfg.SnapshotPath, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvSnapshotPath, err)
	}
	m := api.NewMetrics()
	st, err := store.Open(cfg.EventStorePath, store.Options{Logger: opts.Logger, Now: opts.Now, OnCommit: m.ObserveCommit})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvEventStorePath, err)
	}
	b := &Bridge{cfg: cfg, opts: opts, log: opts.Logger, store: st, metrics: m}
	b.sessions = auth.NewSessions()
	b.auth = auth.NewManager(cfg.AuthSecret, b.sessions, st, opts.Now)
	b.validator = validate.New(validate.Options{EscalationTimeout: opts.EscalationTimeout})
	b.api = api.New(api.Options{Store: st, Auth: b.auth, Validator: b.validator, Metrics: m, Logger: opts.Logger, Now: opts.Now,
		Limits: api.Limits{MaxBytesInFlight: cfg.Limits.MaxBytesInFlight, MaxStreams: cfg.Limits.MaxStreams, MaxStreamsPerAgent: cfg.Limits.MaxStreamsPerAgent}})
	b.coord = coord.New(coord.Options{Store: st, Now: opts.Now, Stopping: b.api.Stopping()})
	b.api.AddCoordination(b.coord)
	b.validator.SetEscalator(b.coord)
	b.shadow = shadow.New(shadow.Options{})
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
	sctx, cancel := context.WithTimeout(context.Background(), b.opts.GracePeriod)
	defer cancel()
	probe.Close()
	if err := srv.Shutdown(sctx); err != nil {
		b.log.Warn("in-flight requests did not finish within the grace period", "error", err)
		srv.Close()
	}
	b.mu.Lock()
	hooks := b.onShutdown
	b.mu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := hooks[i](sctx); err != nil {
			b.log.Error("shutdown hook failed", "error", err)
		}
	}
	if err := b.store.Close(); err != nil {
		b.log.Error("closing event store", "error", err)
		if serveErr == nil {
			serveErr = err
		}
	}
	b.log.Info("lighthouse-bridge stopped", "last_sequence", b.store.LastSequence())
	return serveErr
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
		return fmt.Errorf("replay event log: %w", err)
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
