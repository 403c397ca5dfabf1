package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the Bridge's Prometheus metrics, on a registry of their own
// (not the global one) so every test and every Bridge is independent.
// Other packages register theirs on Registry or use the vectors here.
type Metrics struct {
	Registry *prometheus.Registry

	Requests        *prometheus.CounterVec   // by route, method, code
	RequestDuration *prometheus.HistogramVec // by route
	AppendDuration  prometheus.Histogram     // HTTP append, request to durable answer
	CommitDuration  prometheus.Histogram     // one group commit (bbolt Update + fsync)
	CommitBatch     prometheus.Histogram     // events per group commit
	Events          prometheus.Counter       // events made durable
	Validations     *prometheus.CounterVec   // by decision and rule
	// FuseOperations counts FUSE calls by operation and result; the FUSE
	// view increments it.
	FuseOperations *prometheus.CounterVec
	// ProjectionSkipped counts events a projection could not apply, by
	// projection and event type; they stay in the log but change nothing.
	ProjectionSkipped *prometheus.CounterVec
}

// NewMetrics creates the metrics on a fresh registry, with the Go and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lighthouse_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lighthouse_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}, []string{"route"}),
		AppendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lighthouse_event_append_duration_seconds", Help: "Time from an append request to its durable answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lighthouse_event_store_commit_duration_seconds", Help: "Duration of one group commit (transaction and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		CommitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lighthouse_event_store_commit_events", Help: "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		Events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lighthouse_events_total", Help: "Events made durable since start.",
		}),
		Validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lighthouse_validations_total", Help: "Command validations by decision and deciding rule.",
		}, []string{"decision", "rule"}),
		FuseOperations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lighthouse_fuse_operations_total", Help: "FUSE operations by operation and result.",
		}, []string{"op", "result"}),
		ProjectionSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lighthouse_projection_events_skipped_total", Help: "Events a projection could not apply and skipped, by projection and event type.",
		}, []string{"projection", "event_type"}),
	}
	m.Registry.MustRegister(
		m.Requests, m.RequestDuration, m.AppendDuration, m.CommitDuration, m.CommitBatch,
		m.Events, m.Validations, m.FuseOperations, m.ProjectionSkipped,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveCommit records one group commit; pass it as store.Options.OnCommit.
func (m *Metrics) ObserveCommit(events int, took time.Duration) {
	m.Events.Add(float64(events))
	m.CommitBatch.Observe(float64(events))
	m.CommitDuration.Observe(took.Seconds())
}

// GaugeFunc registers a gauge read at scrape time (store size, sessions).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter read at scrape time (a count kept
// elsewhere, as the connection limiter's).
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}
