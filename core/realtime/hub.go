package realtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// handshakeTimeout bounds how long a socket may stay registered between
// its authorisation and the start of its handler (fasthttp writes the 101
// response in between; if that write fails the handler never runs).
const handshakeTimeout = 10 * time.Second

// closeGrace is how long a closing socket waits for the peer's close frame
// before the connection is cut.
const closeGrace = time.Second

// Close codes the hub sends (RFC 6455 §7.4.1).
const (
	CloseGoingAway     = websocket.CloseGoingAway     // 1001: the server is shutting down
	CloseTryAgainLater = websocket.CloseTryAgainLater // 1013: dropped as a slow consumer
)

var errShuttingDown = errors.New("realtime: hub is shutting down")

// Hub holds this process's sockets by user id and delivers events to them.
//
// Concurrency: Deliver may be called from any goroutine and never blocks
// (each socket has a bounded send buffer drained by its own writer
// goroutine; a full buffer drops that socket, never the caller). Every
// write to a socket happens on its writer goroutine, so writes are
// serialized per connection as contrib/websocket requires; the handler
// goroutine only reads. Shutdown closes every socket with 1001 and waits
// for their goroutines; after it, new sockets are refused with 503.
type Hub struct {
	cfg  Config
	log  *slog.Logger
	m    *Metrics
	pool sync.Pool // write buffers, shared by all sockets (see contrib's WriteBufferPool)

	mu      sync.RWMutex
	users   map[int64]map[*client]struct{}
	closing bool
	live    sync.WaitGroup // attached sockets; Add only under mu while !closing

	subMu sync.Mutex
	unsub func()
}

// NewHub returns a hub for cfg (defaults applied). It does not subscribe to
// any bus: see Subscribe.
func NewHub(cfg Config, log *slog.Logger, m *Metrics) (*Hub, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Hub{cfg: cfg, log: log.With("component", "realtime"), m: m, users: map[int64]map[*client]struct{}{}}, nil
}

// Subscribe makes the hub receive bus's events until Unsubscribe.
func (h *Hub) Subscribe(ctx context.Context, bus Bus) error {
	unsub, err := bus.Subscribe(ctx, h.Deliver)
	if err != nil {
		return err
	}
	h.subMu.Lock()
	h.unsub = unsub
	h.subMu.Unlock()
	return nil
}

// Unsubscribe stops receiving events from the bus (idempotent).
func (h *Hub) Unsubscribe() {
	h.subMu.Lock()
	unsub := h.unsub
	h.unsub = nil
	h.subMu.Unlock()
	if unsub != nil {
		unsub()
	}
}

// Deliver queues ev's payload on each of the user's local sockets. A user
// with no socket here is not an error: the event is ignored (another
// instance may hold the socket). It never blocks.
func (h *Hub) Deliver(ev Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.users[ev.UserID] {
		select {
		case c.send <- ev.Payload:
		default:
			h.m.dropped.WithLabelValues("buffer_full").Inc()
			c.requestClose(CloseTryAgainLater, "slow consumer", reasonSlow)
			c.hurry()
		}
	}
}

// Connections returns how many sockets user has on this hub, counting
// those whose upgrade is under way.
func (h *Hub) Connections(userID int64) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[userID])
}

// Len returns how many sockets the hub holds (all users).
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, set := range h.users {
		n += len(set)
	}
	return n
}

// register adds a socket for userID before the upgrade completes, so an
// event published as soon as the client sees 101 is already queued for it.
func (h *Hub) register(userID int64) (*client, error) {
	c := &client{hub: h, userID: userID, send: make(chan []byte, h.cfg.SendBuffer), quit: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, errShuttingDown
	}
	set := h.users[userID]
	if set == nil {
		set = map[*client]struct{}{}
		h.users[userID] = set
	}
	set[c] = struct{}{}
	c.pending = time.AfterFunc(handshakeTimeout, func() { h.abandon(c) })
	return c, nil
}

// abandon removes a registered socket whose handler never started.
func (h *Hub) abandon(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.attached {
		h.remove(c)
	}
}

// attach marks c live once its handler runs. It fails when the hub is
// shutting down or the registration was abandoned.
func (h *Hub) attach(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.pending.Stop()
	if h.closing || c.removed {
		h.remove(c)
		return false
	}
	c.attached = true
	h.live.Add(1)
	h.m.connections.Inc()
	return true
}

// detach removes a live socket after its goroutines ended.
func (h *Hub) detach(c *client) {
	h.mu.Lock()
	h.remove(c)
	h.mu.Unlock()
	if n := len(c.send); n > 0 {
		h.m.dropped.WithLabelValues("closed").Add(float64(n))
	}
	h.m.connections.Dec()
	h.m.disconnects.WithLabelValues(c.reason()).Inc()
	h.live.Done()
}

// remove drops c from the index. Callers hold h.mu.
func (h *Hub) remove(c *client) {
	if c.removed {
		return
	}
	c.removed = true
	if set := h.users[c.userID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.users, c.userID)
		}
	}
}

// Shutdown refuses new sockets, closes every open one with 1001 (going
// away) and waits until their goroutines are done or ctx ends; then the
// remaining connections are cut and ctx's error is returned. Idempotent.
//
// Run it before the HTTP server's shutdown: fasthttp does not track
// hijacked (upgraded) connections, so the server's shutdown neither waits
// for nor closes them.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	first := !h.closing
	h.closing = true
	var open []*client
	for _, set := range h.users {
		for c := range set {
			if c.attached {
				open = append(open, c)
			} else {
				c.pending.Stop()
				h.remove(c) // its handler, if it ever runs, sends 1001 and returns
			}
		}
	}
	h.mu.Unlock()
	if first && len(open) > 0 {
		h.log.Info("closing websockets", "count", len(open))
	}
	for _, c := range open {
		c.requestClose(CloseGoingAway, "server shutting down", reasonShutdown)
	}
	done := make(chan struct{})
	go func() { h.live.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	for _, c := range open {
		c.abort()
	}
	select {
	case <-done:
	case <-time.After(closeGrace):
	}
	return ctx.Err()
}
