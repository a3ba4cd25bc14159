package realtime

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	fastws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// SocketIOPath is where the Socket.IO endpoint is served (socket.io-client's
// default path).
const SocketIOPath = "/socket.io/"

// eioLocal carries the Engine.IO session to the websocket handler.
const eioLocal = "tipbox.realtime.eio"

// SocketIOHandler serves Socket.IO v4 (Engine.IO protocol 4, Socket.IO
// protocol 5) on the hub: HTTP long-polling and websocket transports, the
// upgrade from the first to the second, the default namespace only. See
// docs/api.md for what a client sees and docs/decisions for why it is
// written here rather than taken from a library.
type SocketIOHandler struct {
	hub     *Hub
	auth    *auth.Verifier
	origins originPolicy
	upgrade fiber.Handler
	log     *slog.Logger
	event   []byte // the event name as a JSON string

	mu       sync.Mutex
	sessions map[string]*eio
}

// NewSocketIOHandler builds the /socket.io/ routes over hub.
func NewSocketIOHandler(hub *Hub, v *auth.Verifier, production bool) *SocketIOHandler {
	ev, _ := json.Marshal(hub.cfg.SocketIO.Event)
	h := &SocketIOHandler{hub: hub, auth: v, origins: newOriginPolicy(hub.cfg.AllowedOrigins, production),
		log: hub.log.With("protocol", protoSocketIO), event: ev, sessions: map[string]*eio{}}
	h.upgrade = websocket.New(h.serveWS, websocket.Config{
		Origins:         []string{"*"}, // checked before, with the error format
		WriteBufferPool: &hub.pool,
		RecoverHandler:  h.recover,
	})
	return h
}

// RegisterRoutes implements httpserver.Routes. The server puts every
// request here behind http.rate_limit, like an /api request (handshakes,
// posts, upgrades, preflights), except the polls RateCaller says are
// paced by the server.
func (h *SocketIOHandler) RegisterRoutes(r fiber.Router) {
	r.Get(SocketIOPath, h.handle)
	r.Post(SocketIOPath, h.handle)
	r.Options(SocketIOPath, h.preflight)
}

// RateCaller implements httpserver.CallerRoutes. A request of a session
// signed in with the Socket.IO connect is its user's (the sid, random and
// bound to the session, is its credential), and so is a handshake with a
// valid token; the rest (a handshake without one, the connect itself) is
// limited by IP.
//
// A poll (GET) of an open polling session with no poll waiting is not
// counted: the server paces it. It is answered only when the session has
// something queued, else it waits (up to ping_interval, for a ping); a
// second poll while one waits closes the session. So polls come as fast
// as the server has packets for the client, and what puts packets there
// is counted: the user's own requests, the client's posts (an answer to
// its ping), or events. Counting them anyway would refuse a client
// receiving many events (on loopback, a polling client sent 100 events a
// second polls about 60 times a second, 1000 a second 300 to 350 times,
// over the default limit in under a second), and a refused poll is a
// transport error to socket.io-client: it drops the session and
// reconnects, which costs both sides more than the poll. Polls of an
// unknown, closed or upgraded session, or overlapping ones, are answered
// at once without waiting: those are counted.
func (h *SocketIOHandler) RateCaller(c *fiber.Ctx) httpserver.Caller {
	if sid := c.Query("sid"); sid != "" {
		h.mu.Lock()
		e := h.sessions[sid]
		h.mu.Unlock()
		if e == nil {
			return httpserver.Caller{}
		}
		return e.rateCaller(c.Method() == fiber.MethodGet && c.Query("transport") == "polling")
	}
	if c.Get(fiber.HeaderAuthorization) == "" && c.Query("token") == "" {
		return httpserver.Caller{}
	}
	p, _ := authenticate(c, h.auth) // the zero Principal when invalid
	return httpserver.Caller{UserID: p.UserID}
}

// Engine.IO error answers ({"code","message"} inside the API's error
// format; the client only looks at the status).
func eioError(status int, code int, msg string) error {
	return httpserver.Error(status, "engineio_"+strconv.Itoa(code), msg)
}

// cors allows a listed (or, in development, any) browser origin to poll
// from another origin, with credentials.
func (h *SocketIOHandler) cors(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if !h.origins.allows(origin, c.Hostname()) {
		return false
	}
	if origin != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		c.Vary(fiber.HeaderOrigin)
	}
	return true
}

func (h *SocketIOHandler) preflight(c *fiber.Ctx) error {
	if !h.cors(c) {
		return httpserver.Error(fiber.StatusForbidden, "forbidden", "origin not allowed")
	}
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST")
	c.Set(fiber.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
	return c.SendStatus(fiber.StatusNoContent)
}

// handle routes an Engine.IO request: a handshake (no sid) on either
// transport, a poll (GET), a post of packets (POST) or a websocket upgrade
// of an existing session.
func (h *SocketIOHandler) handle(c *fiber.Ctx) error {
	if c.Query("EIO") != "4" {
		return eioError(fiber.StatusBadRequest, 5, "unsupported protocol version: EIO=4 (socket.io-client v3 or v4) is required")
	}
	if !h.cors(c) {
		return httpserver.Error(fiber.StatusForbidden, "forbidden", "origin not allowed")
	}
	transport := c.Query("transport")
	ws := transport == "websocket"
	if !ws && transport != "polling" {
		return eioError(fiber.StatusBadRequest, 0, "transport unknown: polling or websocket")
	}
	if ws && !websocket.IsWebSocketUpgrade(c) {
		c.Set(fiber.HeaderUpgrade, "websocket")
		return httpserver.Error(fiber.StatusUpgradeRequired, "upgrade_required", "transport=websocket must be a websocket upgrade")
	}
	sid := c.Query("sid")
	if sid == "" {
		if c.Method() != fiber.MethodGet {
			return eioError(fiber.StatusBadRequest, 2, "bad handshake method: GET")
		}
		return h.open(c, ws)
	}
	h.mu.Lock()
	e := h.sessions[sid]
	h.mu.Unlock()
	if e == nil {
		return eioError(fiber.StatusBadRequest, 1, "session id unknown")
	}
	switch {
	case ws:
		c.Locals(eioLocal, e)
		return h.upgrade(c)
	case c.Method() == fiber.MethodGet:
		return e.poll(c)
	default:
		return e.post(c)
	}
}

// open starts an Engine.IO session. A token in the request (header or
// query) is checked now; most clients send theirs in the Socket.IO
// connect packet instead (auth: {token}).
func (h *SocketIOHandler) open(c *fiber.Ctx, ws bool) error {
	var tok string
	if c.Get(fiber.HeaderAuthorization) != "" || c.Query("token") != "" {
		if _, err := authenticate(c, h.auth); err != nil {
			return err
		}
		tok = c.Query("token")
		if hdr := c.Get(fiber.HeaderAuthorization); hdr != "" {
			tok, _ = auth.BearerToken(hdr)
		}
	}
	e := &eio{h: h, sid: randomID(), tok: tok, quit: make(chan struct{}), limit: newBucket(h.hub.cfg.MaxMessagesPerSecond)}
	e.s = newSession(h.hub, protoSocketIO)
	e.s.closeFn = e.close
	if err := h.hub.reserve(e.s); err != nil {
		return refusal(c, err)
	}
	h.hub.mu.Lock()
	e.s.attached = true
	h.hub.mu.Unlock()
	e.direct = ws
	if !ws {
		e.transport = "polling"
	}
	e.connectTimer = time.AfterFunc(h.hub.cfg.SocketIO.ConnectTimeout, func() {
		e.mu.Lock()
		connected := e.connected
		e.mu.Unlock()
		if !connected {
			e.close(CloseNormal, "no connect packet", reasonProtocol)
		}
	})
	e.armPing()
	h.mu.Lock()
	h.sessions[e.sid] = e
	h.mu.Unlock()
	upgrades := `["websocket"]`
	if ws {
		upgrades = `[]`
	}
	openPacket := []byte(`0{"sid":"` + e.sid + `","upgrades":` + upgrades +
		`,"pingInterval":` + strconv.FormatInt(h.hub.cfg.PingInterval.Milliseconds(), 10) +
		`,"pingTimeout":` + strconv.FormatInt(h.hub.cfg.PongTimeout.Milliseconds(), 10) +
		`,"maxPayload":` + strconv.Itoa(h.hub.cfg.MaxMessageBytes) + `}`)
	if ws {
		e.s.pushRaw(openPacket)
		c.Locals(eioLocal, e)
		if err := h.upgrade(c); err != nil {
			e.close(-1, "", reasonClient)
			return err
		}
		return nil
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=UTF-8")
	return c.Send(openPacket)
}

// serveWS runs a session's websocket transport: a new session opened on
// it, or a polling session upgraded (probe "2probe" → "3probe", then "5").
func (h *SocketIOHandler) serveWS(conn *websocket.Conn) {
	e, _ := conn.Locals(eioLocal).(*eio)
	if e == nil {
		return
	}
	e.mu.Lock()
	fresh := e.direct // opened on this websocket
	busy := e.ws != nil || e.closed || (fresh && conn.Query("sid") != "")
	e.mu.Unlock()
	if busy {
		_ = conn.WriteControl(fastws.CloseMessage, closeMessage(CloseNormal, "session already upgraded or closed"), time.Now().Add(closeGrace))
		return
	}
	if !fresh && !e.probe(conn.Conn) {
		return
	}
	cl := &client{hub: h.hub, auth: h.auth, quit: make(chan struct{}), s: e.s}
	cl.encode = e.encode
	cl.onMessage = e.onWSMessage
	cl.onExit = e.finish
	e.mu.Lock()
	e.ws, e.transport = cl, "websocket"
	closed := e.closed
	code, text, reason := e.code, e.text, e.reason
	e.mu.Unlock()
	e.s.signal() // a poll still waiting returns (with nothing, or a noop)
	if closed {
		cl.requestClose(code, text, reason)
	}
	cl.serve(conn.Conn)
}

func (h *SocketIOHandler) recover(*websocket.Conn) {
	if r := recover(); r != nil {
		h.log.Error("panic in socket.io handler", "panic", r, "stack", string(debug.Stack()))
	}
}

// forget removes a finished session from the sid index.
func (h *SocketIOHandler) forget(sid string) {
	h.mu.Lock()
	delete(h.sessions, sid)
	h.mu.Unlock()
}

// randomID returns 20 random URL-safe characters.
func randomID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// eioSplit splits a long-polling payload: packets separated by the record
// separator (0x1e).
func eioSplit(body []byte) [][]byte { return bytes.Split(body, []byte{0x1e}) }
