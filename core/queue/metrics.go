package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the queue's Prometheus collectors, shared by the Client and
// the Worker of one process. Safe for concurrent use.
type Metrics struct {
	enqueued, completed, failed, retried, cancelled *prometheus.CounterVec
	dropped                                         *prometheus.CounterVec
	overruns                                        *prometheus.CounterVec
	processing, wait                                *prometheus.HistogramVec

	mu     sync.Mutex
	queues map[string]*queueMetrics
}

type queueMetrics struct {
	enqueued, completed, failed, retried, cancelled, overruns prometheus.Counter
	processing, wait                                          prometheus.Observer
}

// NewMetrics creates the collectors and registers them on reg (nil: not
// registered, e.g. in tests). Registering twice on one registry reuses the
// collectors already there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	buckets := prometheus.ExponentialBuckets(0.0001, 2.5, 14) // 100µs … ~15 min
	m := &Metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tipbox_queue_jobs_enqueued_total",
			Help: "Jobs enqueued."}, []string{"queue"}),
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tipbox_queue_jobs_completed_total",
			Help: "Jobs whose handler succeeded."}, []string{"queue"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tipbox_queue_jobs_failed_total",
			Help: "Jobs moved to the dead-letter store."}, []string{"queue"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tipbox_queue_jobs_retried_total",
			Help: "Failed attempts scheduled for a retry."}, []string{"queue"}),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tipbox_queue_jobs_cancelled_total",
			Help: "Running jobs cancelled by an admin."}, []string{"queue"}),
		processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tipbox_queue_job_processing_seconds",
			Help: "Handler run time per attempt.", Buckets: buckets}, []string{"queue"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tipbox_queue_job_wait_seconds",
			Help: "Time from a job becoming due to its handler starting.", Buckets: buckets}, []string{"queue"}),
		overruns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tipbox_queue_handler_overruns_total",
			Help: "Attempts whose handler still ran a second past its timeout (it ignores its context)."}, []string{"queue"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tipbox_queue_dead_dropped_total",
			Help: "Dead-lettered jobs deleted by retention (reason: count or age)."}, []string{"queue", "reason"}),
		queues: map[string]*queueMetrics{},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.enqueued, &m.completed, &m.failed, &m.retried, &m.cancelled, &m.dropped, &m.overruns} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			*c = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	for _, h := range []**prometheus.HistogramVec{&m.processing, &m.wait} {
		if err := reg.Register(*h); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			*h = are.ExistingCollector.(*prometheus.HistogramVec)
		}
	}
	return m, nil
}

// DeadDropped counts dead letters deleted by retention (Observer).
func (m *Metrics) DeadDropped(queue string, n int, reason string) {
	m.dropped.WithLabelValues(queue, reason).Add(float64(n))
}

func (m *Metrics) queue(name string) *queueMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[name]
	if !ok {
		q = &queueMetrics{
			enqueued: m.enqueued.WithLabelValues(name), completed: m.completed.WithLabelValues(name),
			failed: m.failed.WithLabelValues(name), retried: m.retried.WithLabelValues(name),
			cancelled: m.cancelled.WithLabelValues(name), overruns: m.overruns.WithLabelValues(name),
			processing: m.processing.WithLabelValues(name), wait: m.wait.WithLabelValues(name),
		}
		m.queues[name] = q
	}
	return q
}

// depthCollector exports each queue's counts per state as gauges, read
// from the backend at scrape time (one Stats call per queue).
type depthCollector struct {
	queues []string
	store  interface {
		Stats(ctx context.Context, queue string) (Stats, error)
	}
	desc *prometheus.Desc
}

func (m *Metrics) registerDepth(reg prometheus.Registerer, queues []string, store Store) error {
	if reg == nil {
		return nil
	}
	c := &depthCollector{queues: queues, store: store,
		desc: prometheus.NewDesc("tipbox_queue_jobs", "Jobs per queue and state (waiting, active, delayed; paused is 1 while paused).",
			[]string{"queue", "state"}, nil)}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

func (d *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, q := range d.queues {
		s, err := d.store.Stats(ctx, q)
		if err != nil {
			continue // a dead backend shows as missing series, not as zeros
		}
		paused := 0.0
		if s.Paused {
			paused = 1
		}
		for state, v := range map[string]float64{"waiting": float64(s.Waiting), "active": float64(s.Active),
			"delayed": float64(s.Delayed), "paused": paused} {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, v, q, state)
		}
	}
}
