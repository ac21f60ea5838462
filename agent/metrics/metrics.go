// Package metrics exposes the agent's Prometheus metrics and a /healthz
// probe on a local HTTP address ([metrics] listen in agent.toml).
//
// It owns its registry: nothing is registered in the client library's global
// default registry, so two agents in one test process (or one agent built
// twice) never collide, and tests read exactly what the agent exported. It
// records what the loop, the git source, the notes and the RouterOS device
// tell it; it does not poll anything itself and never serves /metrics on a
// public address unless configured to.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names. They are part of the operator interface (alerts and
// dashboards are written against them), so they only ever grow.
const (
	NameBuildInfo        = "tether_build_info"
	NameRunningCommit    = "tether_running_commit_info"
	NameOutcomes         = "tether_outcomes_total"
	NameTxnDuration      = "tether_transaction_duration_seconds"
	NameGateDuration     = "tether_gate_duration_seconds"
	NameReverts          = "tether_reverts_total"
	NameRejected         = "tether_rejected_commits_total"
	NameRouterOSCalls    = "tether_routeros_api_calls_total"
	NameRouterOSErrors   = "tether_routeros_api_errors_total"
	NameFetchDuration    = "tether_git_fetch_duration_seconds"
	NameFetchFailures    = "tether_git_fetch_failures_total"
	NameNotesPending     = "tether_notes_pending_push"
	NameLastSyncTime     = "tether_last_sync_timestamp_seconds"
	NameLastOutcomeTime  = "tether_last_outcome_timestamp_seconds"
	NameNeedsAttention   = "tether_needs_attention"
	NameWANTraps         = "tether_wan_traps"
	NameNotifyDropped    = "tether_notifications_dropped_total"
	staleAfterIntervals  = 3
	defaultPollInterval  = 15 * time.Second
	shutdownGraceDefault = 5 * time.Second
)

// Results the outcome counter is pre-populated with, so a rate() over a
// result that never happened yet reads 0 instead of "no data". They mirror
// the Result* constants of package agent (not imported: agent depends on
// this package, not the other way round).
var knownResults = []string{"applied", "reverted", "rejected", "unchanged", "repaired", "drift", "revert-failed", "recovered"}

// Options configures New.
type Options struct {
	Site         string
	Version      string
	PollInterval time.Duration    // /healthz turns 503 after 3 of these without a successful sync
	Now          func() time.Time // nil: time.Now; tests inject a clock
}

// Metrics records the agent's activity. All methods are safe for concurrent
// use and are cheap enough to call on every poll.
type Metrics struct {
	reg     *prometheus.Registry
	site    string
	poll    time.Duration
	now     func() time.Time
	started time.Time

	running      *prometheus.GaugeVec
	outcomes     *prometheus.CounterVec
	txnDuration  *prometheus.HistogramVec
	gateDuration prometheus.Histogram
	reverts      prometheus.Counter
	rejected     prometheus.Counter
	rosCalls     prometheus.Counter
	rosErrors    prometheus.Counter
	fetchDur     prometheus.Histogram
	fetchFail    prometheus.Counter
	notesPending prometheus.Gauge
	lastSync     prometheus.Gauge
	lastOutcome  prometheus.Gauge
	attention    prometheus.Gauge
	wanTraps     prometheus.Gauge
	notifyDrop   *prometheus.CounterVec

	mu         sync.Mutex
	runningC   string
	lastResult string
	lastSyncAt time.Time
}

// New builds the metrics and their private registry.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		site:    o.Site,
		poll:    o.PollInterval,
		now:     o.Now,
		started: o.Now(),
	}
	// The site is a constant label rather than a target label so that one
	// Prometheus job scraping several agents through a tunnel still tells
	// them apart without relabelling.
	cl := prometheus.Labels{"site": o.Site}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: NameBuildInfo, ConstLabels: prometheus.Labels{"site": o.Site, "version": o.Version},
		Help: "Always 1; the version label is the running agent's version."})
	build.Set(1)
	m.running = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: NameRunningCommit, ConstLabels: cl,
		Help: "Always 1 for the commit the device currently runs (label commit, full hash); absent before the first apply."}, []string{"commit"})
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameOutcomes, ConstLabels: cl,
		Help: "Transaction outcomes by result: applied, reverted, rejected, unchanged, repaired, drift."}, []string{"result"})
	m.txnDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameTxnDuration, ConstLabels: cl,
		Help:    "Wall time of a transaction from trusted commit to recorded outcome, by result.",
		Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 180, 300, 600}}, []string{"result"})
	m.gateDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: NameGateDuration, ConstLabels: cl,
		Help:    "Time the health gate took to pass or fail (bounded by the gate deadline).",
		Buckets: []float64{1, 5, 10, 20, 30, 60, 90, 120, 180, 300}})
	m.reverts = prometheus.NewCounter(prometheus.CounterOpts{Name: NameReverts, ConstLabels: cl,
		Help: "Changes reverted because the health gate failed or the agent recovered an interrupted transaction by undoing it."})
	m.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: NameRejected, ConstLabels: cl,
		Help: "Commits refused before touching the device: untrusted, invalid, or not naming this site."})
	m.rosCalls = prometheus.NewCounter(prometheus.CounterOpts{Name: NameRouterOSCalls, ConstLabels: cl,
		Help: "RouterOS API commands sent (reads and writes)."})
	m.rosErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: NameRouterOSErrors, ConstLabels: cl,
		Help: "RouterOS API commands that failed (!trap, !fatal or a transport error)."})
	m.fetchDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: NameFetchDuration, ConstLabels: cl,
		Help:    "Time to poll the remote and fetch when the branch moved.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}})
	m.fetchFail = prometheus.NewCounter(prometheus.CounterOpts{Name: NameFetchFailures, ConstLabels: cl,
		Help: "Polls or fetches of the network repo that failed."})
	m.notesPending = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameNotesPending, ConstLabels: cl,
		Help: "Outcomes recorded locally as git notes but not yet pushed to the remote."})
	m.lastSync = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameLastSyncTime, ConstLabels: cl,
		Help: "Unix time of the last successful sync (poll, and transaction if any)."})
	m.lastOutcome = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameLastOutcomeTime, ConstLabels: cl,
		Help: "Unix time of the last recorded outcome."})
	m.attention = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameNeedsAttention, ConstLabels: cl,
		Help: "1 while a revert failed and was not resolved (tether status, tether recover); the device may be between two states."})
	m.wanTraps = prometheus.NewGauge(prometheus.GaugeOpts{Name: NameWANTraps, ConstLabels: cl,
		Help: "Connected routes on the live WAN that overlap a prefix the site routes into a tunnel (the routed-prefix trap); see tether status."})
	m.notifyDrop = prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameNotifyDropped, ConstLabels: cl,
		Help: "Outcome notifications never delivered, by reason: queue_full (the receiver is slower than the outcomes) or failed (every attempt failed)."}, []string{"reason"})
	for _, r := range []string{"queue_full", "failed"} {
		m.notifyDrop.WithLabelValues(r)
	}
	for _, r := range knownResults {
		m.outcomes.WithLabelValues(r)
	}
	m.reg.MustRegister(build, m.running, m.outcomes, m.txnDuration, m.gateDuration, m.reverts, m.rejected,
		m.rosCalls, m.rosErrors, m.fetchDur, m.fetchFail, m.notesPending, m.lastSync, m.lastOutcome, m.attention, m.wanTraps, m.notifyDrop,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the private registry, for tests and for embedding.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveOutcome counts one outcome. txn is the transaction's duration
// (Outcome.Finished - Outcome.Started); gate is the gate's duration, zero
// when no gate ran (rejected, unchanged, drift).
func (m *Metrics) ObserveOutcome(result string, txn, gate time.Duration) {
	m.outcomes.WithLabelValues(result).Inc()
	if txn > 0 {
		m.txnDuration.WithLabelValues(result).Observe(txn.Seconds())
	}
	if gate > 0 {
		m.gateDuration.Observe(gate.Seconds())
	}
	switch result {
	case "reverted":
		m.reverts.Inc()
	case "rejected":
		m.rejected.Inc()
	}
	now := m.now()
	m.lastOutcome.Set(float64(now.UnixNano()) / 1e9)
	m.mu.Lock()
	m.lastResult = result
	m.mu.Unlock()
}

// SetRunning records the commit the device now runs ("" before the first
// apply). Only one commit series exists at a time.
func (m *Metrics) SetRunning(commit string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running.Reset()
	if commit != "" {
		m.running.WithLabelValues(commit).Set(1)
	}
	m.runningC = commit
}

// ObserveFetch records one poll of the remote (with its fetch, if any).
func (m *Metrics) ObserveFetch(d time.Duration, err error) {
	m.fetchDur.Observe(d.Seconds())
	if err != nil {
		m.fetchFail.Inc()
	}
}

// SetPendingNotes records how many notes wait to be pushed.
func (m *Metrics) SetPendingNotes(n int) { m.notesPending.Set(float64(n)) }

// SetNeedsAttention records whether a failed revert awaits an operator.
func (m *Metrics) SetNeedsAttention(open bool) {
	v := 0.0
	if open {
		v = 1
	}
	m.attention.Set(v)
}

// SetWANTraps records how many routed-prefix traps the live WAN has.
func (m *Metrics) SetWANTraps(n int) { m.wanTraps.Set(float64(n)) }

// NotifyDropped counts one notification that was never delivered.
func (m *Metrics) NotifyDropped(reason string) { m.notifyDrop.WithLabelValues(reason).Inc() }

// SyncOK records a successful sync at t; /healthz is judged against it.
func (m *Metrics) SyncOK(t time.Time) {
	m.lastSync.Set(float64(t.UnixNano()) / 1e9)
	m.mu.Lock()
	m.lastSyncAt = t
	m.mu.Unlock()
}

// RouterOSCalls adds RouterOS API commands sent and, of those, the ones
// that failed (a refusal by the router or a lost connection).
func (m *Metrics) RouterOSCalls(sent, failed int64) {
	if sent > 0 {
		m.rosCalls.Add(float64(sent))
	}
	if failed > 0 {
		m.rosErrors.Add(float64(failed))
	}
}

// Health is the /healthz body.
type Health struct {
	Status        string     `json:"status"` // "ok" or "stale"
	Site          string     `json:"site"`
	RunningCommit string     `json:"running_commit"`
	LastResult    string     `json:"last_result"`
	LastSync      *time.Time `json:"last_sync"` // null before the first successful sync
}

// Health reports the agent's state and whether it is healthy: a sync
// succeeded within the last 3 poll intervals. Before the first sync the
// agent's start time stands in, so a freshly started agent gets the same
// grace instead of failing its first probe.
func (m *Metrics) Health() (Health, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := Health{Site: m.site, RunningCommit: m.runningC, LastResult: m.lastResult}
	ref := m.started
	if !m.lastSyncAt.IsZero() {
		t := m.lastSyncAt.UTC()
		h.LastSync, ref = &t, m.lastSyncAt
	}
	ok := m.now().Sub(ref) <= staleAfterIntervals*m.poll
	h.Status = "ok"
	if !ok {
		h.Status = "stale"
	}
	return h, ok
}

// Handler serves /metrics and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h, ok := m.Health()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
	return mux
}

// Server is the metrics HTTP server bound to its address.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr (e.g. "127.0.0.1:9477"; port 0 picks a free one) now, so
// a bad address fails at start-up rather than in a goroutine.
func (m *Metrics) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	return &Server{ln: ln, srv: &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is cancelled, then shuts down gracefully (bounded
// by 5s) and returns nil. Any other serving error is returned.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGraceDefault)
		defer cancel()
		err := s.Shutdown(sctx)
		<-errc
		return err
	}
}

// Shutdown stops accepting connections and waits for in-flight scrapes
// until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("metrics shutdown: %w", err)
	}
	return nil
}
