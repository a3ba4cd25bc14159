package cache

import "github.com/prometheus/client_golang/prometheus"

// MetricFor returns one series of m for the tests.
func MetricFor(m *Metrics, name string, labels ...string) prometheus.Collector {
	switch name {
	case "hits":
		return m.hits.WithLabelValues(labels...)
	case "misses":
		return m.misses.WithLabelValues(labels...)
	case "bypasses":
		return m.bypasses.WithLabelValues(labels...)
	case "errors":
		return m.errs.WithLabelValues(labels...)
	}
	panic(name)
}
