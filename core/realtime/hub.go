package realtime

import (
	"context"
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
	CloseGoingAway       = websocket.CloseGoingAway       // 1001: the server is shutting down
	ClosePolicyViolation = websocket.ClosePolicyViolation // 1008: token expired or refused, too many messages
	CloseInternalError   = websocket.CloseInternalServerErr
	CloseTryAgainLater   = websocket.CloseTryAgainLater // 1013: dropped as a slow consumer
)

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
	cfg      Config
	log      *slog.Logger
	m        *Metrics
	pool     sync.Pool // write buffers, shared by all sockets (see contrib's WriteBufferPool)
	history  History   // nil: no replay
	presence PresenceStore

	mu      sync.RWMutex
	users   map[int64]map[*session]struct{}
	all     map[*session]struct{} // every session, signed in or not
	closing bool
	live    sync.WaitGroup // sessions in all; Add only under mu while !closing

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
	return &Hub{cfg: cfg, log: log.With("component", "realtime"), m: m,
		users: map[int64]map[*session]struct{}{}, all: map[*session]struct{}{}}, nil
}

// SetHistory makes reconnecting clients replay what they missed from h.
// Call it before serving.
func (h *Hub) SetHistory(hist History) { h.history = hist }

// SetPresence shares presence through p (nil: this hub's own sockets).
// Call it before serving.
func (h *Hub) SetPresence(p PresenceStore) { h.presence = p }

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
	set := h.users[ev.UserID]
	if len(set) == 0 {
		return
	}
	f := frame{payload: ev.Payload, id: eventID(ev.Payload)}
	for s := range set {
		if !s.push(f) {
			h.m.dropped.WithLabelValues("buffer_full").Inc()
			s.closeFn(CloseTryAgainLater, "slow consumer", reasonSlow)
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

// Len returns how many sockets the hub holds (all users), Socket.IO
// sessions not yet signed in included.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.all)
}

// Presence returns the user's sockets across instances (through the
// presence store) or on this hub (without one).
func (h *Hub) Presence(ctx context.Context, userID int64) (int, error) {
	if h.presence != nil {
		return h.presence.Count(ctx, userID)
	}
	return h.Connections(userID), nil
}

// reserve admits a new session within max_sockets. It fails with
// ErrShuttingDown or ErrServerFull.
func (h *Hub) reserve(s *session) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return ErrShuttingDown
	}
	if len(h.all) >= h.cfg.MaxSockets {
		h.m.refused.WithLabelValues("max_sockets").Inc()
		return ErrServerFull
	}
	h.all[s] = struct{}{}
	h.live.Add(1)
	return nil
}

// join indexes a reserved session under its user, within
// max_sockets_per_user (ErrTooManySockets); from then on Deliver reaches it.
func (h *Hub) join(s *session) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing || s.removed {
		return ErrShuttingDown
	}
	set := h.users[s.userID]
	if len(set) >= h.cfg.MaxSocketsPerUser {
		h.m.refused.WithLabelValues("max_sockets_per_user").Inc()
		return ErrTooManySockets
	}
	if set == nil {
		set = map[*session]struct{}{}
		h.users[s.userID] = set
		h.m.joins.Inc()
		h.m.online.Inc()
	}
	set[s] = struct{}{}
	s.joined = true
	h.m.connections.Inc()
	h.m.opened.WithLabelValues(s.proto).Inc()
	if h.presence != nil {
		h.presence.Set(s.userID, len(set))
	}
	return nil
}

// remove forgets a session (idempotent): out of the index, its slot and
// its wait released, its token timer stopped.
func (h *Hub) remove(s *session, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s, reason)
}

// attach marks a session as served by a running handler. It fails (and
// forgets the session) when the hub is shutting down or the session was
// abandoned meanwhile.
func (h *Hub) attach(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.handshake != nil {
		s.handshake.Stop()
	}
	if h.closing || s.removed {
		h.removeLocked(s, reasonShutdown)
		return false
	}
	s.attached = true
	return true
}

// abandon forgets a session whose handler never started.
func (h *Hub) abandon(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.attached {
		h.removeLocked(s, reasonClient)
	}
}

func (h *Hub) removeLocked(s *session, reason string) {
	if s.removed {
		return
	}
	s.removed = true
	s.stopExpiry()
	delete(h.all, s)
	if s.joined {
		set := h.users[s.userID]
		delete(set, s)
		n := len(set)
		if n == 0 {
			delete(h.users, s.userID)
			h.m.leaves.Inc()
			h.m.online.Dec()
		}
		if h.presence != nil {
			h.presence.Set(s.userID, n)
		}
		h.m.connections.Dec()
		h.m.disconnects.WithLabelValues(reason).Inc()
	}
	h.live.Done()
}

// replay reads what the session's user missed after since and releases
// the session's gate with it; before, if set, runs in between (it may
// queue control packets ahead of the replay). It returns whether the
// history left events out (over replay.limit or replay.max_age). On error the gate
// stays closed: the caller closes the session.
func (h *Hub) replay(ctx context.Context, s *session, since int64, before func(truncated bool)) (truncated bool, err error) {
	if h.history == nil {
		if before != nil {
			before(false)
		}
		s.release(nil)
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	evs, truncated, err := h.history.After(ctx, s.userID, since, time.Now().Add(-h.cfg.Replay.MaxAge), h.cfg.Replay.Limit)
	if err != nil {
		return false, err
	}
	if before != nil {
		before(truncated)
	}
	s.release(evs)
	h.m.replayed.Add(float64(len(evs)))
	return truncated, nil
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
	open := make([]*session, 0, len(h.all))
	for s := range h.all {
		if s.attached {
			open = append(open, s)
		} else {
			// Its handler, if it ever runs, sends 1001 and returns.
			h.removeLocked(s, reasonShutdown)
		}
	}
	h.mu.Unlock()
	if first && len(open) > 0 {
		h.log.Info("closing websockets", "count", len(open))
	}
	for _, s := range open {
		s.closeFn(CloseGoingAway, "server shutting down", reasonShutdown)
	}
	done := make(chan struct{})
	go func() { h.live.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	for _, s := range open {
		s.closeFn(-1, "", reasonShutdown) // cut what did not close in time
	}
	select {
	case <-done:
	case <-time.After(closeGrace):
	}
	return ctx.Err()
}
