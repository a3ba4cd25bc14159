package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tipbox/tipbox/core/auth"
)

// client is one /ws socket. Its session is registered (and joined) before
// the upgrade; its handler attaches it. The close request is guarded by
// closeOnce (code and text are written before quit is closed, read after),
// net by mu.
type client struct {
	s      *session
	hub    *Hub
	auth   *auth.Verifier
	replay bool  // gated at registration; the handler replays from since
	since  int64 // last event id the client saw

	// Protocol hooks: /ws sends payloads as they are, pings with websocket
	// pings and reads {"type":"auth"} messages; Socket.IO replaces them.
	// Closes that the protocol words its own way (a flood: Socket.IO sends
	// a disconnect packet first) go through s.closeFn.
	encode    func(dst []byte, f frame) []byte // nil: f.payload as is
	onMessage func(msg []byte)
	wsPings   bool
	onExit    func(reason string) // after both goroutines ended

	quit      chan struct{} // closed by requestClose
	closeOnce sync.Once
	code      int    // close code to send, set before quit is closed
	text      string // close reason to send
	why       atomic.Pointer[string]
	aborted   atomic.Bool
	hurried   atomic.Bool

	mu  sync.Mutex
	net net.Conn // the hijacked connection while the handler runs, then nil
}

func newClient(h *Hub, v *auth.Verifier) *client {
	c := &client{hub: h, auth: v, quit: make(chan struct{}), wsPings: true}
	c.s = newSession(h, protoWS)
	c.s.closeFn = c.closeRequested
	c.onMessage = c.handleMessage
	c.onExit = func(reason string) { h.remove(c.s, reason) }
	return c
}

// closeRequested is the session's closeFn: code < 0 cuts the connection
// (the reason is kept: the reader, cut, would only see a failed read).
func (c *client) closeRequested(code int, text, reason string) {
	if code < 0 {
		c.setReason(reason)
		c.abort()
		return
	}
	c.requestClose(code, text, reason)
	if reason == reasonSlow {
		c.hurry()
	}
}

// requestClose asks the writer to send a close frame and end the socket.
// Non-blocking; the first request wins.
func (c *client) requestClose(code int, text, reason string) {
	c.closeOnce.Do(func() {
		c.code, c.text = code, text
		c.setReason(reason)
		close(c.quit)
	})
}

func (c *client) setReason(r string) { c.why.CompareAndSwap(nil, &r) }

func (c *client) reason() string {
	if p := c.why.Load(); p != nil {
		return *p
	}
	return reasonClient
}

// abort cuts the connection's blocked reads and writes (deadlines in the
// past). It is how other goroutines stop a socket: closing a hijacked
// fasthttp connection is a no-op until its handler returns.
func (c *client) abort() {
	c.aborted.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.net != nil {
		now := time.Now()
		_ = c.net.SetReadDeadline(now)
		_ = c.net.SetWriteDeadline(now)
	}
}

// serve runs the socket on the handler goroutine: it reads (pongs, close
// frames, token refreshes) while a writer goroutine sends frames and
// pings. It returns only after the writer has exited, because
// contrib/websocket recycles the connection once the handler returns.
func (c *client) serve(conn *websocket.Conn) {
	h := c.hub
	if !h.attach(c.s) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(CloseGoingAway, "server shutting down"), time.Now().Add(closeGrace))
		return
	}
	c.mu.Lock()
	c.net = conn.NetConn()
	c.mu.Unlock()

	alive := h.cfg.PingInterval + h.cfg.PongTimeout
	conn.SetReadLimit(int64(h.cfg.MaxMessageBytes))
	_ = conn.SetReadDeadline(time.Now().Add(alive))
	limit := newBucket(h.cfg.MaxMessagesPerSecond)
	conn.SetPongHandler(func(string) error {
		if !limit.allow(time.Now()) {
			c.s.closeFn(ClosePolicyViolation, "too many messages", reasonFlood)
			return nil
		}
		if c.aborted.Load() {
			return nil
		}
		return conn.SetReadDeadline(time.Now().Add(alive))
	})
	conn.SetPingHandler(func(data string) error {
		if !limit.allow(time.Now()) {
			c.s.closeFn(ClosePolicyViolation, "too many messages", reasonFlood)
			return nil
		}
		// WriteControl may run beside the writer goroutine (gorilla allows it).
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(h.cfg.WriteTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
		}
		return nil
	})

	readDone := make(chan struct{})
	writeDone := make(chan struct{})
	go c.writeLoop(conn, readDone, writeDone)
	// Deferred, so a panic while reading still releases the socket:
	// readDone is closed, the writer is awaited, then the hub forgets it.
	defer func() {
		c.mu.Lock()
		c.net = nil
		c.mu.Unlock()
		c.onExit(c.reason())
	}()
	defer func() { <-writeDone }()
	defer close(readDone)
	if c.replay {
		if _, err := h.replay(context.Background(), c.s, c.since, nil); err != nil {
			h.log.Warn("replay failed; closing the socket so the client retries", "user_id", c.s.userID, "err", err)
			c.requestClose(CloseInternalError, "replay failed", reasonReplay)
		}
	}
	c.readLoop(conn, alive, &limit)
}

func (c *client) readLoop(conn *websocket.Conn, alive time.Duration, limit *bucket) {
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				c.setReason(reasonTooBig)
			case errors.As(err, &ne) && ne.Timeout() && !c.aborted.Load():
				c.setReason(reasonHeartbeat)
			}
			c.setReason(reasonClient)
			return
		}
		msg, err := io.ReadAll(r)
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.setReason(reasonTooBig)
			}
			c.setReason(reasonClient)
			return
		}
		if !limit.allow(time.Now()) {
			c.s.closeFn(ClosePolicyViolation, "too many messages", reasonFlood)
			continue // keep reading until the close handshake ends
		}
		c.onMessage(msg)
		if !c.aborted.Load() {
			_ = conn.SetReadDeadline(time.Now().Add(alive))
		}
	}
}

// handleMessage acts on a client message: {"type":"auth","token":"…"}
// extends the socket's life; anything else is ignored.
func (c *client) handleMessage(msg []byte) {
	var m clientMessage
	if json.Unmarshal(msg, &m) != nil || m.Type != "auth" {
		return
	}
	c.s.refresh(c.auth, m.Token)
}

// writeLoop is the only goroutine that writes data frames, pings and the
// close frame.
func (c *client) writeLoop(conn *websocket.Conn, readDone <-chan struct{}, writeDone chan<- struct{}) {
	defer close(writeDone)
	h := c.hub
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	if !c.wsPings {
		ping.Stop()
	}
	fail := func() {
		c.setReason(reasonWrite)
		c.abortUntil(readDone)
	}
	var buf []frame
	var enc []byte
	for {
		// A close request wins over queued frames and pings.
		select {
		case <-c.quit:
			c.closeWrite(conn, readDone)
			return
		default:
		}
		select {
		case <-c.s.ready:
			batch := c.s.take(buf)
			for i, f := range batch {
				_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
				msg := f.payload
				if c.encode != nil {
					enc = c.encode(enc[:0], f)
					msg = enc
				}
				if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
					h.m.dropped.WithLabelValues("closed").Add(float64(len(batch) - i))
					fail()
					return
				}
				if f.raw == nil {
					h.m.delivered.Inc()
				}
			}
			buf = batch
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.cfg.WriteTimeout)); err != nil {
				fail()
				return
			}
		case <-c.quit:
			c.closeWrite(conn, readDone)
			return
		case <-readDone:
			return
		}
	}
}

// closeWrite flushes what is queued and sends the close frame, all within
// closeGrace, then waits (briefly) for the peer's close frame.
func (c *client) closeWrite(conn *websocket.Conn, readDone <-chan struct{}) {
	h := c.hub
	deadline := time.Now().Add(min(closeGrace, h.cfg.WriteTimeout))
	_ = conn.SetWriteDeadline(deadline)
	for _, f := range c.s.take(nil) {
		msg := f.payload
		if c.encode != nil {
			msg = c.encode(nil, f)
		}
		if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			h.m.dropped.WithLabelValues("closed").Inc()
			break
		}
		if f.raw == nil {
			h.m.delivered.Inc()
		}
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.text), deadline)
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-readDone:
	case <-t.C:
		c.abortUntil(readDone)
	}
}

// hurry shortens a write that may be blocked on a peer that does not read,
// so a slow consumer is cut within closeGrace rather than write_timeout.
func (c *client) hurry() {
	if !c.hurried.CompareAndSwap(false, true) {
		return // once: repeated calls would keep pushing the deadline out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.net != nil {
		_ = c.net.SetWriteDeadline(time.Now().Add(closeGrace))
	}
}

// abortUntil aborts the connection until the reader has ended, repeating
// in case a pong handler extended the read deadline in between.
func (c *client) abortUntil(readDone <-chan struct{}) {
	for {
		c.abort()
		select {
		case <-readDone:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
