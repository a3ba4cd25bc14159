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

// FlightRefs returns how many callers wait on the miss load of key.
func FlightRefs[T any](a *Aside[T], key string) int {
	a.misses.mu.Lock()
	defer a.misses.mu.Unlock()
	if c, ok := a.misses.m[key]; ok {
		return c.refs
	}
	return 0
}
