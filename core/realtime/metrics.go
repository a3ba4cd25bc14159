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
	reasonExpired   = "token_expired" // the token expired (plus leeway) without a refresh (1008)
	reasonAuth      = "token_refused" // a refresh carried a bad token or another user's (1008)
	reasonFlood     = "rate_limited"  // more than max_messages_per_second (1008)
	reasonTooBig    = "too_big"       // a message over max_message_bytes (1009)
	reasonReplay    = "replay_failed" // the history could not be read (1011)
	reasonProtocol  = "protocol"      // a Socket.IO client broke the protocol
)

// Metrics are the hub's Prometheus collectors.
type Metrics struct {
	connections prometheus.Gauge
	online      prometheus.Gauge
	joins       prometheus.Counter
	leaves      prometheus.Counter
	opened      *prometheus.CounterVec
	refused     *prometheus.CounterVec
	refreshes   prometheus.Counter
	replayed    prometheus.Counter
	delivered   prometheus.Counter
	dropped     *prometheus.CounterVec
	disconnects *prometheus.CounterVec
}

// NewMetrics registers the hub's collectors with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipbox_realtime_connections", Help: "Open signed-in sockets on this instance (/ws and Socket.IO).",
		}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipbox_realtime_online_users", Help: "Users with at least one socket on this instance.",
		}),
		joins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipbox_realtime_presence_joins_total", Help: "Users who came online on this instance (first socket opened).",
		}),
		leaves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipbox_realtime_presence_leaves_total", Help: "Users who went offline on this instance (last socket closed).",
		}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipbox_realtime_sockets_opened_total", Help: "Signed-in sockets opened, by protocol (ws, socketio).",
		}, []string{"protocol"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipbox_realtime_sockets_refused_total", Help: "Sockets refused by a cap (max_sockets_per_user, max_sockets).",
		}, []string{"limit"}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipbox_realtime_token_refreshes_total", Help: "Tokens refreshed on open sockets.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipbox_realtime_events_replayed_total", Help: "Events replayed from the history to reconnecting clients.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipbox_realtime_events_delivered_total", Help: "Frames written to sockets (one per socket per event).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipbox_realtime_events_dropped_total",
			Help: "Frames not delivered to a socket, by reason (buffer_full: slow consumer; closed: socket closed first).",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipbox_realtime_disconnects_total", Help: "Closed signed-in sockets by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.connections, m.online, m.joins, m.leaves, m.opened, m.refused,
		m.refreshes, m.replayed, m.delivered, m.dropped, m.disconnects} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("realtime: register metrics: %w", err)
		}
	}
	return m, nil
}
