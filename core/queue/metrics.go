package queue

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the queue's Prometheus collectors, shared by the Client and
// the Worker of one process. Safe for concurrent use.
type Metrics struct {
	enqueued, completed, failed, retried *prometheus.CounterVec
	processing, wait                     *prometheus.HistogramVec

	mu     sync.Mutex
	queues map[string]*queueMetrics
}

type queueMetrics struct {
	enqueued, completed, failed, retried prometheus.Counter
	processing, wait                     prometheus.Observer
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
		processing: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tipbox_queue_job_processing_seconds",
			Help: "Handler run time per attempt.", Buckets: buckets}, []string{"queue"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tipbox_queue_job_wait_seconds",
			Help: "Time from a job becoming due to its handler starting.", Buckets: buckets}, []string{"queue"}),
		queues: map[string]*queueMetrics{},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.enqueued, &m.completed, &m.failed, &m.retried} {
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

func (m *Metrics) queue(name string) *queueMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[name]
	if !ok {
		q = &queueMetrics{
			enqueued: m.enqueued.WithLabelValues(name), completed: m.completed.WithLabelValues(name),
			failed: m.failed.WithLabelValues(name), retried: m.retried.WithLabelValues(name),
			processing: m.processing.WithLabelValues(name), wait: m.wait.WithLabelValues(name),
		}
		m.queues[name] = q
	}
	return q
}
