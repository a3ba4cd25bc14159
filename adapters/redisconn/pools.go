package redisconn

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Pools exports the connection pools of a process's Redis clients as
// Prometheus metrics, labelled by the client's role (cache, queue,
// realtime, ratelimit). Each subsystem builds its own client
// (see the package comment) and adds it here; the figures are read from
// go-redis on each scrape.
//
// Why: a command waits for a free connection when all of its client's
// pool (redis.pool_size, by default ten per CPU) is in use. Under load
// that wait, not Redis, can be where requests queue (docs/decisions/0031:
// grants waited seconds in all for the cache's pool), and nothing else
// shows it.
//
// A nil *Pools ignores Add. Safe for concurrent use.
type Pools struct {
	mu      sync.Mutex
	clients map[string]redis.UniversalClient

	conns, idle, waits, waitSeconds, timeouts *prometheus.Desc
}

// NewPools returns an empty Pools.
func NewPools() *Pools {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("tipbox_redis_pool_"+name, help, []string{"client"}, nil)
	}
	return &Pools{
		clients:     map[string]redis.UniversalClient{},
		conns:       d("connections", "Open connections of the client (its command and pipeline pools)."),
		idle:        d("idle_connections", "Open connections of the client no command is using."),
		waits:       d("waits_total", "Commands that waited for a free connection of the pool."),
		waitSeconds: d("wait_seconds_total", "Time commands spent waiting for a free connection of the pool."),
		timeouts:    d("timeouts_total", "Commands that gave up waiting for a connection (the pool timeout)."),
	}
}

// Add exports c's pool under the label client=name, in place of a client
// added before under that name.
func (p *Pools) Add(name string, c redis.UniversalClient) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[name] = c
}

// Describe implements prometheus.Collector.
func (p *Pools) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.conns, p.idle, p.waits, p.waitSeconds, p.timeouts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A closed client reports the
// figures it had.
func (p *Pools) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, c := range p.clients {
		s := *c.PoolStats()
		// go-redis keeps pipelines on a pool of their own (a pipeline that
		// finds it full goes to the main pool and waits there): its
		// connections are the client's too.
		if pp := s.PipelineStats; pp != nil {
			s.TotalConns += pp.TotalConns
			s.IdleConns += pp.IdleConns
			s.WaitCount += pp.WaitCount
			s.WaitDurationNs += pp.WaitDurationNs
			s.Timeouts += pp.Timeouts
		}
		ch <- prometheus.MustNewConstMetric(p.conns, prometheus.GaugeValue, float64(s.TotalConns), name)
		ch <- prometheus.MustNewConstMetric(p.idle, prometheus.GaugeValue, float64(s.IdleConns), name)
		ch <- prometheus.MustNewConstMetric(p.waits, prometheus.CounterValue, float64(s.WaitCount), name)
		ch <- prometheus.MustNewConstMetric(p.waitSeconds, prometheus.CounterValue, float64(s.WaitDurationNs)/1e9, name)
		ch <- prometheus.MustNewConstMetric(p.timeouts, prometheus.CounterValue, float64(s.Timeouts), name)
	}
}
