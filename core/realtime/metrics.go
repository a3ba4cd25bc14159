package realtime

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Disconnect reasons (label values of tipbox_realtime_disconnects_total).
const (
	reasonClient    = "client"        // the peer closed or the read failed
	reasonHeartbeat = "heartbeat"     // no pong within ping_interval + pong_timeout
	reasonSlow      = "slow_consumer" // send buffer full
	reasonWrite     = "write_error"   // a frame could not be written in write_timeout
	reasonShutdown  = "shutdown"      // the hub shut down (close code 1001)
)

// Metrics are the hub's Prometheus collectors.
type Metrics struct {
	connections prometheus.Gauge
	delivered   prometheus.Counter
	dropped     *prometheus.CounterVec
	disconnects *prometheus.CounterVec
}

// NewMetrics registers the hub's collectors with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipbox_realtime_connections", Help: "Open websocket connections on this instance.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipbox_realtime_events_delivered_total", Help: "Frames written to sockets (one per socket per event).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipbox_realtime_events_dropped_total",
			Help: "Frames not delivered to a socket, by reason (buffer_full: slow consumer; closed: socket closed first).",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipbox_realtime_disconnects_total", Help: "Closed websocket connections by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.connections, m.delivered, m.dropped, m.disconnects} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("realtime: register metrics: %w", err)
		}
	}
	return m, nil
}
