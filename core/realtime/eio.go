package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	fastws "github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/httpserver"
)

// CloseNormal is the websocket close code of an orderly end (1000).
const CloseNormal = fastws.CloseNormalClosure

func closeMessage(code int, text string) []byte { return fastws.FormatCloseMessage(code, text) }

// eio is one Engine.IO session carrying one Socket.IO connection to the
// default namespace. Its outbound queue is its hub session's: Engine.IO
// control packets (open, ping, noop, Socket.IO connect/ack/disconnect) go
// in raw, events are encoded when written. Polling GETs or the websocket
// writer drain it.
//
// Life: opened by a handshake (reserved in the hub, not yet a user's);
// joined to its user by a signed-in Socket.IO connect; ended by close
// (idempotent): on polling at once, on the websocket when its handler
// returns (finish).
type eio struct {
	h      *SocketIOHandler
	s      *session
	sid    string
	tok    string // token of the handshake request, if any
	quit   chan struct{}
	direct bool   // opened on a websocket (no polling, no upgrade)
	limit  bucket // guarded by postMu (polling) or owned by the ws reader

	postMu sync.Mutex // one POST at a time

	connectTimer *time.Timer

	mu        sync.Mutex
	transport string  // "polling" or "websocket" (direct: set when served)
	ws        *client // the websocket transport once upgraded
	polling   bool    // a GET is waiting
	connected bool    // the Socket.IO connect was accepted
	told      bool    // a Socket.IO disconnect was queued on close
	closed    bool
	code      int
	text      string
	reason    string
	ping      *time.Timer
	pong      *time.Timer
	finished  bool
}

// rateCaller describes a request of this session for the rate limit (see
// SocketIOHandler.RateCaller): its user once the Socket.IO connect was
// accepted; a poll paced when it will wait for the server.
func (e *eio) rateCaller(poll bool) httpserver.Caller {
	e.mu.Lock()
	defer e.mu.Unlock()
	var who httpserver.Caller
	if e.connected {
		who.UserID = e.s.userID // written before connected was set (under e.mu)
	}
	who.Paced = poll && e.transport == "polling" && !e.polling && !e.closed
	return who
}

// armPing schedules the next ping: every ping_interval the server sends
// "2" and expects "3" within pong_timeout, as the handshake announced.
func (e *eio) armPing() {
	cfg := e.h.hub.cfg
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.ping = time.AfterFunc(cfg.PingInterval, func() {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		e.pong = time.AfterFunc(cfg.PongTimeout, func() {
			e.close(-1, "", reasonHeartbeat)
		})
		e.mu.Unlock()
		e.s.pushRaw([]byte("2"))
	})
}

// pong answers the outstanding ping and schedules the next.
func (e *eio) gotPong() {
	e.mu.Lock()
	if e.pong == nil || !e.pong.Stop() {
		e.mu.Unlock()
		return // unsolicited, or too late (the session is closing)
	}
	e.pong = nil
	e.mu.Unlock()
	e.armPing()
}

// close is the session's closeFn. A signed-in client told to go for a
// reason it cannot fix by reconnecting (1008: token, flood) first gets a
// Socket.IO disconnect ("io server disconnect": no automatic reconnect);
// on shutdown (1001) or a slow socket (1013) it gets only the transport's
// end and reconnects. code < 0 cuts without ceremony.
func (e *eio) close(code int, text, reason string) {
	e.mu.Lock()
	if e.closed {
		ws := e.ws
		e.mu.Unlock()
		if code < 0 && ws != nil {
			ws.abort()
		}
		return
	}
	e.closed = true
	e.code, e.text, e.reason = code, text, reason
	for _, t := range []*time.Timer{e.ping, e.pong, e.connectTimer} {
		if t != nil {
			t.Stop()
		}
	}
	ws, connected := e.ws, e.connected
	e.told = connected && code == ClosePolicyViolation
	e.mu.Unlock()
	if e.told {
		e.s.pushRaw([]byte("41"))
	}
	if ws != nil {
		ws.closeRequested(code, text, reason)
		return
	}
	close(e.quit) // a waiting poll returns what is queued and the close packet
	e.finish(reason)
}

// finish forgets the session (idempotent).
func (e *eio) finish(reason string) {
	e.mu.Lock()
	if e.finished {
		e.mu.Unlock()
		return
	}
	e.finished, e.closed = true, true
	for _, t := range []*time.Timer{e.ping, e.pong, e.connectTimer} {
		if t != nil {
			t.Stop()
		}
	}
	direct := e.ws != nil
	e.mu.Unlock()
	e.h.hub.remove(e.s, reason)
	if direct {
		e.h.forget(e.sid)
		return
	}
	// A poll that arrives just after the close still gets the close packet
	// rather than "unknown session" (which the client reports as an error).
	time.AfterFunc(2*closeGrace, func() { e.h.forget(e.sid) })
}

// poll is a long-polling GET: it answers at once with what is queued, or
// waits until something is (a ping comes every ping_interval), the session
// closes, or the transport moves to the websocket.
func (e *eio) poll(c *fiber.Ctx) error {
	e.mu.Lock()
	switch {
	case e.transport == "websocket":
		e.mu.Unlock()
		return eioError(fiber.StatusBadRequest, 3, "the session was upgraded to websocket")
	case e.polling:
		e.mu.Unlock()
		e.close(-1, "", reasonProtocol)
		return eioError(fiber.StatusBadRequest, 3, "overlapping polls")
	}
	e.transport, e.polling = "polling", true
	closed := e.closed
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.polling = false
		e.mu.Unlock()
	}()
	if !closed && !e.s.queued() {
		t := time.NewTimer(e.h.hub.cfg.PingInterval + e.h.hub.cfg.PongTimeout)
		select {
		case <-e.s.ready:
		case <-e.quit:
		case <-t.C:
		}
		t.Stop()
	}
	var body []byte
	for i, f := range e.s.take(nil) {
		if i > 0 {
			body = append(body, 0x1e)
		}
		body = e.encode(body, f)
		if f.raw == nil {
			e.h.hub.m.delivered.Inc()
		}
	}
	select {
	case <-e.quit:
		// After a Socket.IO disconnect the close packet waits for the next
		// poll: socket.io-client handles a disconnect packet a tick after
		// its payload, so a close in the same payload would be seen first
		// ("transport close", and a reconnect with the refused token). On
		// the disconnect the client closes the engine itself.
		e.mu.Lock()
		told := e.told
		e.mu.Unlock()
		if told && len(body) > 0 {
			break
		}
		if len(body) > 0 {
			body = append(body, 0x1e)
		}
		body = append(body, '1')
	default:
		if len(body) == 0 {
			body = append(body, '6') // woken with nothing to say (an upgrade under way)
		}
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=UTF-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(body)
}

// post takes a long-polling POST: packets from the client.
func (e *eio) post(c *fiber.Ctx) error {
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && enc != "identity" {
		return httpserver.Error(fiber.StatusUnsupportedMediaType, "unsupported_encoding", "Socket.IO posts are not compressed")
	}
	body := c.Request().Body() // raw: never decompressed
	if len(body) > e.h.hub.cfg.MaxMessageBytes {
		e.close(-1, "", reasonTooBig)
		return httpserver.Error(fiber.StatusRequestEntityTooLarge, "too_large", "payload over realtime.max_message_bytes")
	}
	e.postMu.Lock()
	defer e.postMu.Unlock()
	e.mu.Lock()
	polling := e.transport != "websocket"
	e.mu.Unlock()
	if !polling {
		return eioError(fiber.StatusBadRequest, 3, "the session was upgraded to websocket")
	}
	now := time.Now()
	for _, p := range eioSplit(body) {
		if !e.limit.allow(now) {
			e.close(ClosePolicyViolation, "too many messages", reasonFlood)
			break
		}
		e.onPacket(p)
	}
	c.Set(fiber.HeaderContentType, "text/html")
	return c.SendString("ok")
}

// probe runs the client's upgrade probe on a fresh websocket: "2probe" →
// "3probe", a noop to release the pending poll, then "5" (upgrade).
func (e *eio) probe(conn *fastws.Conn) bool {
	deadline := time.Now().Add(e.h.hub.cfg.PingInterval + e.h.hub.cfg.PongTimeout)
	_ = conn.SetReadDeadline(deadline)
	conn.SetReadLimit(int64(e.h.hub.cfg.MaxMessageBytes))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return false
		}
		switch string(msg) {
		case "2probe":
			_ = conn.SetWriteDeadline(time.Now().Add(e.h.hub.cfg.WriteTimeout))
			if conn.WriteMessage(fastws.TextMessage, []byte("3probe")) != nil {
				return false
			}
			e.s.pushRaw([]byte("6"))
		case "5":
			_ = conn.SetReadDeadline(time.Time{})
			return true
		default:
			return false
		}
	}
}

// onWSMessage is the websocket reader's hook: one packet per frame.
func (e *eio) onWSMessage(msg []byte) { e.onPacket(msg) }

// onPacket handles one Engine.IO packet from the client.
func (e *eio) onPacket(p []byte) {
	if len(p) == 0 {
		return
	}
	switch p[0] {
	case '1': // close
		e.close(CloseNormal, "client closed", reasonClient)
	case '2': // a ping from the client: answer it
		e.s.pushRaw(append([]byte("3"), p[1:]...))
	case '3':
		e.gotPong()
	case '4':
		e.onSocketIO(p[1:])
	case '5', '6': // upgrade (handled by probe), noop
	default:
		e.close(CloseNormal, "bad packet", reasonProtocol)
	}
}

// connectAuth is the Socket.IO connect payload: auth: {token} plus, on a
// reconnect, socket.io-client's connection-state recovery fields.
type connectAuth struct {
	Token  string          `json:"token"`
	Offset json.RawMessage `json:"offset"`
	PID    string          `json:"pid"`
}

// onSocketIO handles one Socket.IO packet (Engine.IO message).
func (e *eio) onSocketIO(p []byte) {
	if len(p) == 0 {
		return
	}
	typ, rest := p[0], p[1:]
	nsp := "/"
	if len(rest) > 0 && rest[0] == '/' {
		end := bytes.IndexByte(rest, ',')
		if end < 0 {
			nsp, rest = string(rest), nil
		} else {
			nsp, rest = string(rest[:end]), rest[end+1:]
		}
	}
	if nsp != "/" {
		if typ == '0' {
			e.s.pushRaw([]byte("44" + nsp + `,{"message":"Invalid namespace"}`))
		}
		return
	}
	switch typ {
	case '0':
		e.onConnect(rest)
	case '1':
		e.close(CloseNormal, "client disconnected", reasonClient)
	case '2':
		e.onEvent(rest)
	}
}

func (e *eio) connectError(code, msg string) {
	b, _ := json.Marshal(map[string]any{"message": msg, "data": map[string]string{"code": code}})
	e.s.pushRaw(append([]byte("44"), b...))
}

// onConnect accepts the Socket.IO connect: a valid token (auth.token, else
// the handshake's), a free slot for the user; then the connect answer,
// the replay from auth.offset if given, and live events.
func (e *eio) onConnect(data []byte) {
	e.mu.Lock()
	done := e.connected || e.closed
	e.mu.Unlock()
	if done {
		return
	}
	var a connectAuth
	if len(bytes.TrimSpace(data)) > 0 && json.Unmarshal(data, &a) != nil {
		e.connectError("bad_request", "the connect payload must be a JSON object")
		return
	}
	tok := a.Token
	if tok == "" {
		tok = e.tok
	}
	if tok == "" {
		e.connectError("unauthorized", "missing token (auth: {token}, Authorization: Bearer or ?token=)")
		return
	}
	v := e.h.auth
	p, err := v.Parse(tok)
	if err != nil {
		e.connectError("unauthorized", "invalid or expired token")
		return
	}
	since, replay := parseOffset(a.Offset)
	hub := e.h.hub
	replay = replay && hub.history != nil
	e.s.userID = p.UserID
	e.s.gate() // before joining: the connect answer and the replay go first
	if err := hub.join(e.s); err != nil {
		e.s.release(nil)
		switch err {
		case ErrTooManySockets:
			e.connectError("too_many_sockets", "this user already holds the most sockets allowed")
		default:
			e.connectError("unavailable", "server is shutting down")
		}
		return
	}
	e.mu.Lock()
	e.connected = true
	e.connectTimer.Stop()
	e.mu.Unlock()
	e.s.armExpiry(p, v.Leeway())
	answer := func(pid string) []byte {
		b, _ := json.Marshal(map[string]string{"sid": randomID(), "pid": pid})
		return append([]byte("40"), b...)
	}
	if !replay {
		e.s.pushRaw(answer(randomID()))
		e.s.release(nil)
		return
	}
	// The answer is queued once the replay was read, so that it can say
	// whether the client's state was recovered (the pid it sent comes
	// back), and before the replayed events.
	_, err = hub.replay(context.Background(), e.s, since, func(truncated bool) {
		pid := randomID()
		if !truncated && a.PID != "" {
			pid = a.PID
		}
		e.s.pushRaw(answer(pid))
	})
	if err != nil {
		e.h.log.Warn("replay failed; closing the session so the client retries", "user_id", p.UserID, "err", err)
		e.close(CloseInternalError, "replay failed", reasonReplay)
	}
}

// parseOffset reads auth.offset: the id of the last event received, as a
// string (what socket.io-client sends back) or a number.
func parseOffset(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		raw = []byte(s)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// onEvent handles 42[<ack id>]["auth", {token} | "token"]: a token refresh.
// Other events are ignored.
func (e *eio) onEvent(data []byte) {
	e.mu.Lock()
	connected := e.connected
	e.mu.Unlock()
	if !connected {
		return
	}
	i := 0
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	ackID := string(data[:i])
	var args []json.RawMessage
	if json.Unmarshal(data[i:], &args) != nil || len(args) < 2 {
		return
	}
	var name string
	if json.Unmarshal(args[0], &name) != nil || name != "auth" {
		return
	}
	var tok string
	if json.Unmarshal(args[1], &tok) != nil {
		var m clientMessage
		_ = json.Unmarshal(args[1], &m)
		tok = m.Token
	}
	if e.s.refresh(e.h.auth, tok) && ackID != "" {
		e.s.pushRaw([]byte("43" + ackID + `[{"ok":true}]`))
	}
}

// encode appends f as an Engine.IO packet: raw packets as they are, events
// as 42["<event>",<payload>,"<id>"] (the id last, as socket.io-client's
// connection-state recovery reads it).
func (e *eio) encode(dst []byte, f frame) []byte {
	if f.raw != nil {
		return append(dst, f.raw...)
	}
	dst = append(dst, `42[`...)
	dst = append(dst, e.h.event...)
	dst = append(dst, ',')
	dst = append(dst, f.payload...)
	if f.id > 0 {
		dst = append(dst, `,"`...)
		dst = strconv.AppendInt(dst, f.id, 10)
		dst = append(dst, '"')
	}
	return append(dst, ']')
}
