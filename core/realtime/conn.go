package realtime

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// readLimit caps a client message: clients have nothing to say yet (their
// messages are read and ignored), so anything large is abuse.
const readLimit = 4096

// client is one socket. hub, userID and send are set at registration; send
// is filled by Deliver (any goroutine) and drained by the writer goroutine
// only. The registration state is guarded by hub.mu, the close request by
// closeOnce (code and text are written before quit is closed, read after),
// net by mu.
type client struct {
	hub    *Hub
	userID int64
	send   chan []byte

	// guarded by hub.mu
	pending  *time.Timer
	attached bool
	removed  bool

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
// frames, ignored messages) while a writer goroutine sends frames and pings.
// It returns only after the writer has exited, because contrib/websocket
// recycles the connection once the handler returns.
func (c *client) serve(conn *websocket.Conn) {
	h := c.hub
	if !h.attach(c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(CloseGoingAway, "server shutting down"), time.Now().Add(closeGrace))
		return
	}
	c.mu.Lock()
	c.net = conn.NetConn()
	c.mu.Unlock()

	alive := h.cfg.PingInterval + h.cfg.PongTimeout
	conn.SetReadLimit(readLimit)
	_ = conn.SetReadDeadline(time.Now().Add(alive))
	conn.SetPongHandler(func(string) error {
		if c.aborted.Load() {
			return nil
		}
		return conn.SetReadDeadline(time.Now().Add(alive))
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
		h.detach(c)
	}()
	defer func() { <-writeDone }()
	defer close(readDone)
	c.readLoop(conn, alive)
}

func (c *client) readLoop(conn *websocket.Conn, alive time.Duration) {
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.aborted.Load() {
				c.setReason(reasonHeartbeat)
			}
			c.setReason(reasonClient)
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			c.setReason(reasonClient)
			return
		}
		if !c.aborted.Load() {
			_ = conn.SetReadDeadline(time.Now().Add(alive))
		}
	}
}

// writeLoop is the only goroutine that writes data frames, pings and the
// close frame.
func (c *client) writeLoop(conn *websocket.Conn, readDone <-chan struct{}, writeDone chan<- struct{}) {
	defer close(writeDone)
	h := c.hub
	ping := time.NewTicker(h.cfg.PingInterval)
	defer ping.Stop()
	fail := func() {
		c.setReason(reasonWrite)
		c.abortUntil(readDone)
	}
	for {
		// A close request wins over queued frames and pings.
		select {
		case <-c.quit:
			c.closeWrite(conn, readDone)
			return
		default:
		}
		select {
		case msg := <-c.send:
			_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				h.m.dropped.WithLabelValues("closed").Inc()
				fail()
				return
			}
			h.m.delivered.Inc()
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
flush:
	for {
		select {
		case msg := <-c.send:
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				h.m.dropped.WithLabelValues("closed").Inc()
				break flush
			}
			h.m.delivered.Inc()
		default:
			break flush
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
