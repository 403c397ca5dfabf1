// Package api is the Bridge's HTTP layer: the standard library router,
// the auth middleware, strict JSON decoding with the 1 MiB limit, JSON
// errors for every client mistake, metrics per route, and the routes of
// the core (health, status, metrics, sessions, events, validation) and the
// coordination routes (AddCoordination, coord.go). Later
// parts add their routes with Handle and their readiness with SetComponent.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
	"github.com/lighthouse-project/lighthouse/bridge/validate"
)

// ServiceName is reported by /health.
const ServiceName = "lighthouse-bridge"

// ErrDisabled, returned by a component check, reports the component as
// "disabled" (not configured) rather than failing.
var ErrDisabled = errors.New("disabled")

// Options are the Server's dependencies.
type Options struct {
	Store     *store.Store
	Auth      *auth.Manager
	Validator *validate.Validator
	Metrics   *Metrics     // nil: NewMetrics()
	Logger    *slog.Logger // nil: slog.Default()
	Now       func() time.Time
	// Heartbeat is the interval of SSE keep-alive comments. Default 15s.
	Heartbeat time.Duration
	// Limits bound what requests may hold; zero fields take the defaults.
	Limits Limits
	// FreeSpace reports the bytes free on the event store's volume, for
	// Limits.MinFreeBytes; nil: no such guard.
	FreeSpace func() (int64, error)
}

// Limits bound the memory and the streams requests may hold. The server
// wiring fills them from the environment (config.Limits).
type Limits struct {
	// MaxBytesInFlight bounds the request-body bytes held at once by all
	// requests together, and the bytes of events a query gathers. A body
	// that would pass it is refused with 503 and Retry-After.
	MaxBytesInFlight int64
	// MaxBytesInFlightPerClient bounds what one agent (one client address
	// on the public routes, which also have a reserve of their own) may
	// hold of MaxBytesInFlight; beyond it 429 with Retry-After.
	MaxBytesInFlightPerClient int64
	// BodyStall is the longest a request body may pause (408 and the
	// connection closed beyond it); ReadTimeout bounds a whole request.
	// Zero: no bound of their own.
	BodyStall, ReadTimeout time.Duration
	// MaxStreams and MaxStreamsPerAgent bound open /event/stream answers,
	// in all and per agent; one more is 429 with Retry-After.
	MaxStreams, MaxStreamsPerAgent int
	// StreamBufferBytes and StreamBufferEvents bound the frames kept for
	// the streams, shared by all of them; a stream that falls further
	// behind is ended with a "reconnect" event.
	StreamBufferBytes  int64
	StreamBufferEvents int
	// MaxQueryBytes bounds the event data one GET /event/query answer
	// gathers; a longer answer is cut short (truncated, next_since).
	MaxQueryBytes int64
	// WriteTimeout bounds how long one write of an answer may wait for
	// the client to read it (streams: streamWriteTimeout).
	WriteTimeout time.Duration
	// MinFreeBytes is the space kept free on the event store's volume:
	// below it every authenticated write is 507 (diskGuard). Zero: none.
	MinFreeBytes int64
	// ScanLimit bounds the events one query (or one catch-up batch of a
	// stream) examines, the reader's or not: past it the answer is cut
	// short (truncated, next_since).
	ScanLimit int
}

// Default limits (the environment overrides the first three through
// config; the others are fixed).
const (
	DefaultMaxBytesInFlight   = 64 << 20
	DefaultMaxStreams         = 512
	DefaultMaxStreamsPerAgent = 8
	DefaultStreamBufferBytes  = 32 << 20
	DefaultStreamBufferEvents = 8192
	DefaultMaxQueryBytes      = 16 << 20
	DefaultWriteTimeout       = 60 * time.Second
	DefaultScanLimit          = 10000
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytesInFlight <= 0 {
		l.MaxBytesInFlight = DefaultMaxBytesInFlight
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.MaxStreamsPerAgent <= 0 {
		l.MaxStreamsPerAgent = DefaultMaxStreamsPerAgent
	}
	if l.StreamBufferBytes <= 0 {
		l.StreamBufferBytes = DefaultStreamBufferBytes
	}
	if l.StreamBufferEvents <= 0 {
		l.StreamBufferEvents = DefaultStreamBufferEvents
	}
	if l.MaxQueryBytes <= 0 {
		l.MaxQueryBytes = DefaultMaxQueryBytes
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.ScanLimit <= 0 {
		l.ScanLimit = DefaultScanLimit
	}
	return l
}

// Server is the HTTP API. Its zero value is not usable; call New.
type Server struct {
	store     *store.Store
	auth      *auth.Manager
	validator *validate.Validator
	metrics   *Metrics
	log       *slog.Logger
	now       func() time.Time
	heartbeat time.Duration
	started   time.Time
	limits    Limits

	mux *http.ServeMux
	// patterns holds every pattern given to Handle: the only values, with
	// "unmatched", of the route label of the request metrics.
	patterns    sync.Map
	requireAuth func(http.Handler) http.Handler

	bodies    *bodyBudget
	freeSpace func() (int64, error)
	hub       *hub
	origins   originCache
	promOnce  sync.Once
	prom      http.Handler

	mu         sync.RWMutex
	components map[string]component
	table      []Route                 // every row served, in order (Routes)
	types      map[string]declaredType // event types the Bridge writes, by name
	probes     map[string]bool         // patterns of the Probe rows
	confined   []string                // path prefixes whose unclean paths are 400, not redirected
	stopping   chan struct{}
	stopOnce   sync.Once
}

type component struct {
	required bool
	check    func(context.Context) error
}

// New builds the server with the core routes and the event_store
// readiness component.
func New(o Options) *Server {
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	o.Limits = o.Limits.withDefaults()
	s := &Server{
		store: o.Store, auth: o.Auth, validator: o.Validator, metrics: o.Metrics, log: o.Logger,
		now: o.Now, heartbeat: o.Heartbeat, started: o.Now(), limits: o.Limits,
		mux:        http.NewServeMux(),
		components: map[string]component{},
		types:      map[string]declaredType{},
		probes:     map[string]bool{},
		stopping:   make(chan struct{}),
		bodies:     newBodyBudget(o.Limits.MaxBytesInFlight, o.Limits.MaxBytesInFlightPerClient),
		freeSpace:  o.FreeSpace,
	}
	s.hub = newHub(s, o.Limits)
	s.requireAuth = o.Auth.Middleware(func(w http.ResponseWriter, _ *http.Request, status int, msg string) {
		WriteError(w, status, msg)
	})
	s.SetComponent("event_store", true, func(context.Context) error { return o.Store.Healthy() })
	s.metrics.GaugeFunc("lighthouse_event_store_size_bytes", "Size of the bbolt event store file.", func() float64 { return float64(o.Store.Size()) })
	s.metrics.GaugeFunc("lighthouse_event_store_last_sequence", "Sequence of the newest durable event.", func() float64 { return float64(o.Store.LastSequence()) })
	s.metrics.GaugeFunc("lighthouse_sessions_active", "Live (unexpired) sessions.", func() float64 {
		n, _ := o.Auth.Sessions().Active(s.now())
		return float64(n)
	})
	s.metrics.GaugeFunc("lighthouse_event_streams_open", "Open /event/stream answers.", func() float64 { return float64(s.hub.Streams()) })
	s.metrics.GaugeFunc("lighthouse_bytes_in_flight", "Request-body and query-answer bytes held now (LIGHTHOUSE_MAX_BYTES_IN_FLIGHT).", func() float64 { return float64(s.bodies.InFlight()) })
	s.metrics.GaugeFunc("lighthouse_validations_pending", "Validations waiting for an expert.", func() float64 { return float64(o.Validator.Pending()) })
	s.Add(s.corePart())
	return s
}

// Metrics are the server's metrics (to register more or increment FUSE ops).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// SetComponent adds or replaces a readiness component of /status. A
// required component that fails makes /status 503; the FUSE view
// registers "fuse_mount", snapshots "snapshots". check returning
// ErrDisabled reports "disabled".
func (s *Server) SetComponent(name string, required bool, check func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.components[name] = component{required: required, check: check}
}

// Stopping returns a channel closed when shutdown begins, so long-lived
// handlers (SSE streams) end and let the graceful shutdown finish.
func (s *Server) Stopping() <-chan struct{} { return s.stopping }

// BeginShutdown marks the server as stopping: /status answers 503 and
// streams end. http.Server.RegisterOnShutdown(s.BeginShutdown) wires it.
func (s *Server) BeginShutdown() { s.stopOnce.Do(func() { close(s.stopping) }) }

func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// ServeHTTP answers unknown routes and wrong methods with JSON errors,
// recovers panics as 500, logs and counts every request by its pattern.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	_, pattern := s.mux.Handler(r)
	route := pattern
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panic", "route", route, "panic", fmt.Sprint(p))
			if !rw.wrote {
				WriteError(rw, http.StatusInternalServerError, "internal error")
			}
		}
		if _, ok := s.patterns.Load(route); !ok {
			route = "unmatched"
		}
		code := strconv.Itoa(rw.status)
		s.metrics.Requests.WithLabelValues(route, methodLabel(r.Method), code).Inc()
		s.metrics.RequestDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "route", route, "status", rw.status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}
	}()
	if s.isConfined(r.URL.Path) && path.Clean(r.URL.Path) != strings.TrimSuffix(r.URL.Path, "/") {
		// The router would redirect to the cleaned path; a confined path
		// is refused instead, so what is stored is what was asked for.
		WriteError(rw, http.StatusBadRequest, fmt.Sprintf("path %q is not clean: \"..\", \".\" and empty elements are not allowed", r.URL.Path))
		return
	}
	if pattern == "" {
		s.notFound(rw, r)
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// ProbeHandler serves the connections beyond the connection limits
// (netlimit's overflow): the Probe rows (health and readiness) as
// ServeHTTP does, everything else 503 with Retry-After, without reading
// a body. A liveness or readiness probe thus keeps its answer while
// clients fill every connection.
func (s *Server) ProbeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := s.mux.Handler(r)
		s.mu.RLock()
		probe := s.probes[pattern]
		s.mu.RUnlock()
		if probe {
			s.ServeHTTP(w, r)
			return
		}
		s.metrics.Requests.WithLabelValues("over_connection_limit", methodLabel(r.Method), "503").Inc()
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusServiceUnavailable, "the bridge is at its connection limit (in all or for this client address): this connection answers only /health and /status; retry shortly")
	})
}

// methodLabel is the method label of the request metrics: a standard
// HTTP method, or "other". Any client can send any method token, so the
// raw value would let unauthenticated requests add series without limit.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "other"
}

// notFound turns the router's plain-text 404, 405 and redirects into
// JSON answers, keeping its Allow and Location headers.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch {
	case rec.status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow")))
	case rec.status >= 300 && rec.status < 400:
		w.Header().Set("Location", rec.header.Get("Location"))
		WriteError(w, rec.status, "moved to "+rec.header.Get("Location"))
	default:
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	}
}

// isConfined reports whether path lies under a prefix registered by a
// route family that judges its own paths (EnableShadow).
func (s *Server) isConfined(path string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.confined {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// StatusResponse is the body of GET /status.
type StatusResponse struct {
	Status             string            `json:"status"`
	Mode               string            `json:"mode"`
	Components         map[string]string `json:"components"`
	ActiveAgents       int               `json:"active_agents"`
	PendingValidations int               `json:"pending_validations"`
	UptimeSeconds      float64           `json:"uptime_seconds"`
	LastSequence       uint64            `json:"last_sequence"`
}

// HealthResponse is the body of GET /health (fields in the order of the
// map it replaced, so the bytes are unchanged).
type HealthResponse struct {
	Service string `json:"service"`
	Status  string `json:"status"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, HealthResponse{Status: "healthy", Service: ServiceName})
}

// Ready runs every component check: ok is true when all required ones pass.
func (s *Server) Ready(ctx context.Context) (ok bool, components map[string]string) {
	s.mu.RLock()
	names := make([]string, 0, len(s.components))
	for n := range s.components {
		names = append(names, n)
	}
	comps := make(map[string]component, len(s.components))
	for n, c := range s.components {
		comps[n] = c
	}
	s.mu.RUnlock()
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ok = true
	components = map[string]string{}
	for _, n := range names {
		c := comps[n]
		err := c.check(ctx)
		switch {
		case err == nil:
			components[n] = "ok"
		case errors.Is(err, ErrDisabled):
			components[n] = "disabled"
		default:
			components[n] = "error: " + err.Error()
			if c.required {
				ok = false
			}
		}
	}
	return ok, components
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ok, comps := s.Ready(r.Context())
	_, agents := s.auth.Sessions().Active(s.now())
	st := StatusResponse{
		Status: "ready", Mode: "serving", Components: comps, ActiveAgents: agents,
		PendingValidations: s.validator.Pending(),
		UptimeSeconds:      s.now().Sub(s.started).Seconds(),
		LastSequence:       s.store.LastSequence(),
	}
	code := http.StatusOK
	if s.isStopping() {
		ok = false
		st.Mode = "stopping"
	}
	if !ok {
		st.Status = "not_ready"
		if st.Mode != "stopping" {
			st.Mode = "degraded"
		}
		code = http.StatusServiceUnavailable
	}
	WriteJSON(w, code, st)
}
