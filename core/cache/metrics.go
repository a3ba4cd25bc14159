package cache

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the cache metrics of one application, labelled by cache
// name. One Metrics is shared by every Aside (each curries its own name
// once, so the hot path is an atomic add).
//
//	tipbox_cache_hits_total{cache}
//	tipbox_cache_misses_total{cache}
//	tipbox_cache_bypasses_total{cache}          served from the loader, cache unusable
//	tipbox_cache_errors_total{cache,op}         op: get, set, delete, decode, encode
//	tipbox_cache_load_duration_seconds{cache}   loader latency (misses and bypasses)
//	tipbox_cache_breaker_state{cache}           0 closed, 1 open, 2 half-open
//	tipbox_cache_pending_invalidations{cache}
//	tipbox_cache_invalidations_dropped_total{cache}
type Metrics struct {
	hits, misses, bypasses, dropped *prometheus.CounterVec
	errs                            *prometheus.CounterVec
	load                            *prometheus.HistogramVec
	breaker, pending                *prometheus.GaugeVec
}

// NewMetrics creates the cache metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	for _, c := range []prometheus.Collector{m.hits, m.misses, m.bypasses, m.dropped, m.errs, m.load, m.breaker, m.pending} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func newMetrics() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tipbox", Subsystem: "cache", Name: name, Help: help,
		}, append([]string{"cache"}, labels...))
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "tipbox", Subsystem: "cache", Name: name, Help: help,
		}, []string{"cache"})
	}
	return &Metrics{
		hits:     counter("hits_total", "Reads served from the cache."),
		misses:   counter("misses_total", "Reads not found in the cache (loaded and stored)."),
		bypasses: counter("bypasses_total", "Reads served from the loader because the cache was unusable."),
		dropped:  counter("invalidations_dropped_total", "Invalidations lost because the cache was down and the pending set was full."),
		errs:     counter("errors_total", "Cache operation failures by operation.", "op"),
		load: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tipbox", Subsystem: "cache", Name: "load_duration_seconds",
			Help:    "Latency of loads on cache misses and bypasses.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"cache"}),
		breaker: gauge("breaker_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open."),
		pending: gauge("pending_invalidations", "Invalidations waiting for the cache to come back."),
	}
}

// asideMetrics are the metrics of one cache name.
type asideMetrics struct {
	hits, misses, bypasses, dropped prometheus.Counter
	load                            prometheus.Observer
	breaker, pending                prometheus.Gauge
	errs                            *prometheus.CounterVec
	name                            string
}

func (m *Metrics) forCache(name string) asideMetrics {
	return asideMetrics{
		hits:     m.hits.WithLabelValues(name),
		misses:   m.misses.WithLabelValues(name),
		bypasses: m.bypasses.WithLabelValues(name),
		dropped:  m.dropped.WithLabelValues(name),
		load:     m.load.WithLabelValues(name),
		breaker:  m.breaker.WithLabelValues(name),
		pending:  m.pending.WithLabelValues(name),
		errs:     m.errs,
		name:     name,
	}
}

func (m asideMetrics) errors(op string) prometheus.Counter { return m.errs.WithLabelValues(m.name, op) }
