package realtime

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tipbox/tipbox/core/auth"
)

// Protocols (label values of the metrics).
const (
	protoWS       = "ws"
	protoSocketIO = "socketio"
)

// replayDedupWindow is how long after a replay a live event with a
// replayed id is still recognised as a duplicate (the time between an
// event's storing and its publishing, with a wide margin).
const replayDedupWindow = time.Minute

// frame is one outbound item of a session: an event (payload and its id,
// 0 when the payload has none) or, for Socket.IO, an Engine.IO packet
// already encoded (raw).
type frame struct {
	payload []byte
	id      int64
	raw     []byte
}

// session is what the hub knows of one connection, whatever its protocol:
// its user, its outbound queue, the replay gate, the token's expiry and the
// inbound rate. The transport drains the queue (take after ready) and is
// asked to stop through closeFn.
//
// Queue and gate: live events (push) are queued up to send_buffer; while
// the session is gated (a replay is being read from the history) they wait
// in pending instead, and release puts the replayed events first, then the
// pending ones that were not replayed. Control packets (pushRaw) are never
// gated or bounded.
type session struct {
	hub     *Hub
	proto   string
	closeFn func(code int, text, reason string)

	// userID is set before the session joins the hub and not changed.
	userID int64

	mu      sync.Mutex
	items   []frame
	gated   bool
	pending []frame
	ready   chan struct{} // 1-buffered: items became non-empty
	expiry  *time.Timer
	// replayed holds the ids of the last replay (ascending) until
	// replayedUntil: an event stored before the replay read it but
	// published after the gate opened is not sent twice.
	replayed      []int64
	replayedUntil time.Time

	// guarded by hub.mu
	handshake *time.Timer // see attach: a /ws socket between its 101 and its handler
	attached  bool
	joined    bool
	removed   bool
}

func newSession(h *Hub, proto string) *session {
	return &session{hub: h, proto: proto, ready: make(chan struct{}, 1), closeFn: func(int, string, string) {}}
}

func (s *session) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// push queues a live event. It returns false when the queue (or, while
// gated, the pending list) is full: the caller drops the session.
func (s *session) push(f frame) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.id != 0 && s.replayed != nil {
		if time.Now().After(s.replayedUntil) {
			s.replayed = nil
		} else if _, dup := slices.BinarySearch(s.replayed, f.id); dup {
			return true
		}
	}
	if s.gated {
		if len(s.pending) >= s.hub.cfg.SendBuffer+s.hub.cfg.Replay.Limit {
			return false
		}
		s.pending = append(s.pending, f)
		return true
	}
	if len(s.items) >= s.hub.cfg.SendBuffer {
		return false
	}
	s.items = append(s.items, f)
	s.signal()
	return true
}

// pushRaw queues a control packet, ahead of nothing and behind what is
// queued; it ignores the gate and the bound.
func (s *session) pushRaw(p []byte) {
	s.mu.Lock()
	s.items = append(s.items, frame{raw: p})
	s.mu.Unlock()
	s.signal()
}

// take returns what is queued, leaving buf (emptied) as the new queue, so
// that two slices alternate without allocating.
func (s *session) take(buf []frame) []frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.items
	clear(buf[:cap(buf)])
	s.items = buf[:0]
	return out
}

// queued reports whether anything waits to be sent.
func (s *session) queued() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items) > 0
}

// gate holds live events back until release.
func (s *session) gate() {
	s.mu.Lock()
	s.gated = true
	s.mu.Unlock()
}

// release queues the replayed events, then the live events that arrived
// meanwhile and were not among them, and opens the gate.
func (s *session) release(replayed []Stored) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[int64]struct{}, len(replayed))
	for _, e := range replayed {
		seen[e.ID] = struct{}{}
		s.items = append(s.items, frame{payload: e.Payload, id: e.ID})
	}
	for _, f := range s.pending {
		if _, dup := seen[f.id]; dup && f.id != 0 {
			continue
		}
		s.items = append(s.items, f)
	}
	s.pending, s.gated = nil, false
	if len(replayed) > 0 {
		s.replayed = make([]int64, len(replayed))
		for i, e := range replayed {
			s.replayed[i] = e.ID
		}
		slices.Sort(s.replayed)
		s.replayedUntil = time.Now().Add(replayDedupWindow)
	}
	if len(s.items) > 0 {
		s.signal()
	}
}

// armExpiry closes the session with 1008 at the token's expiry plus the
// verifier's leeway (replacing an earlier deadline).
func (s *session) armExpiry(p auth.Principal, leeway time.Duration) {
	if p.ExpiresAt.IsZero() {
		return
	}
	d := time.Until(p.ExpiresAt.Add(leeway))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.expiry = time.AfterFunc(max(d, 0), func() {
		s.closeFn(ClosePolicyViolation, "token expired", reasonExpired)
	})
}

func (s *session) stopExpiry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
	}
}

// refresh checks a new token sent on the socket: it must be valid and for
// the same user, else the session is closed with 1008. It returns whether
// the session goes on.
func (s *session) refresh(v *auth.Verifier, token string) bool {
	p, err := v.Parse(token)
	switch {
	case err != nil:
		s.closeFn(ClosePolicyViolation, "invalid or expired token", reasonAuth)
		return false
	case p.UserID != s.userID:
		s.closeFn(ClosePolicyViolation, "token of another user", reasonAuth)
		return false
	}
	s.armExpiry(p, v.Leeway())
	s.hub.m.refreshes.Inc()
	return true
}

// bucket limits inbound messages: rate per second, bursts of burst. Not
// safe for concurrent use (each socket's reader owns one).
type bucket struct {
	tokens, rate, burst float64
	last                time.Time
}

func newBucket(perSecond int) bucket {
	r := float64(perSecond)
	return bucket{tokens: 2 * r, rate: r, burst: 2 * r, last: time.Now()}
}

func (b *bucket) allow(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// eventID reads the "id" field of a payload (a JSON string or number
// holding a positive integer); 0 when there is none.
func eventID(payload []byte) int64 {
	if !bytes.Contains(payload, []byte(`"id"`)) {
		return 0
	}
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(payload, &v) != nil || len(v.ID) == 0 {
		return 0
	}
	raw := v.ID
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		raw = []byte(s)
	}
	id, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// clientMessage is what a client may send: {"type":"auth","token":"…"}.
type clientMessage struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}
