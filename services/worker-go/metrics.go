package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The worker's Prometheus metrics on METRICS_HOST:METRICS_PORT (/metrics), with the names,
// labels, help texts and buckets of the Python and Node.js workers (services/README.md), so
// that one dashboard shows all three. The runner counts each task's outcome and times it
// and its LLM call; the key pool is read when Prometheus scrapes.

// outcomes are what runner.process returns, each counted from zero.
var outcomes = []string{"answered", "provider_error", "refused", "undelivered", "abandoned"}

// metricBuckets, in seconds: an LLM call takes from milliseconds (offline) to
// LLM_TIMEOUT_SECONDS; a task adds the simulated work (10 s by default).
var metricBuckets = []float64{0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120}

type workerMetrics struct {
	registry        *prometheus.Registry
	tasks           *prometheus.CounterVec
	taskSeconds     prometheus.Histogram
	providerSeconds *prometheus.HistogramVec
	providerErrors  *prometheus.CounterVec
	busy            prometheus.Gauge
}

func newWorkerMetrics() *workerMetrics {
	m := &workerMetrics{
		// A registry of our own: the default one would add the go_* series the other
		// workers do not have.
		registry: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ai_worker_tasks_total", Help: "Tasks handled, by outcome.",
		}, []string{"outcome"}),
		taskSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ai_worker_task_seconds", Help: "From receiving a task to having its result.",
			Buckets: metricBuckets,
		}),
		providerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ai_worker_provider_seconds", Help: "Time in the LLM call, by provider.",
			Buckets: metricBuckets,
		}, []string{"provider"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ai_worker_provider_errors_total", Help: "Provider failures, by provider and kind.",
		}, []string{"provider", "kind"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ai_worker_busy", Help: "1 while the worker is on a task.",
		}),
	}
	for _, outcome := range outcomes {
		m.tasks.WithLabelValues(outcome)
	}
	m.registry.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.tasks, m.taskSeconds, m.providerSeconds, m.providerErrors, m.busy)
	return m
}

// watchKeys shows the state of provider's key pool.
func (m *workerMetrics) watchKeys(provider string, pool *keyPool) {
	label := prometheus.Labels{"provider": provider}
	m.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ai_worker_key_cooldowns_total", Help: "API keys put to rest after HTTP 429.",
			ConstLabels: label,
		}, func() float64 { return float64(pool.cooldowns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ai_worker_keys_cooling", Help: "API keys resting right now.", ConstLabels: label,
		}, func() float64 { return float64(pool.cooling()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ai_worker_keys", Help: "API keys configured.", ConstLabels: label,
		}, func() float64 { return float64(pool.size()) }),
	)
}

// observeProvider records one LLM call and, when it failed, its error kind.
func (m *workerMetrics) observeProvider(provider string, took time.Duration, errorKind string) {
	m.providerSeconds.WithLabelValues(provider).Observe(took.Seconds())
	if errorKind != "" {
		m.providerErrors.WithLabelValues(provider, errorKind).Inc()
	}
}

func (m *workerMetrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	return mux
}

// serve answers /metrics on host:port in the background; the error says why the port
// cannot be used.
func (m *workerMetrics) serve(host string, port int) error {
	listener, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		var sysErr *os.SyscallError
		if errors.As(err, &sysErr) {
			return sysErr.Err // "address already in use": the log line names the port
		}
		return err
	}
	server := &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second}
	go server.Serve(listener)
	return nil
}
