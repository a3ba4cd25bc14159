package realtime

import (
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// Path is where the websocket is served.
const Path = "/ws"

// clientLocal carries the registered client from the upgrade check to the
// socket handler. contrib/websocket copies only string-keyed locals, and
// the value must not be an io.Closer (fasthttp closes those on release).
const clientLocal = "tipbox.realtime.client"

// Handler is the GET /ws route: it authenticates the upgrade request and
// hands the socket to the hub.
type Handler struct {
	hub     *Hub
	auth    *auth.Verifier
	origins originPolicy
	upgrade fiber.Handler
	log     *slog.Logger
}

// NewHandler builds the route. production selects the default origin
// policy (same origin only) when realtime.allowed_origins is empty.
func NewHandler(hub *Hub, v *auth.Verifier, production bool) *Handler {
	h := &Handler{hub: hub, auth: v, origins: newOriginPolicy(hub.cfg.AllowedOrigins, production), log: hub.log}
	h.upgrade = websocket.New(h.serve, websocket.Config{
		// Origins are checked before the upgrade (with the error format);
		// contrib's own check would only answer 426.
		Origins:         []string{"*"},
		WriteBufferPool: &hub.pool,
		RecoverHandler:  h.recover,
	})
	return h
}

// RegisterRoutes implements httpserver.Routes. The server puts every
// upgrade request behind http.rate_limit before handle runs (a refused
// one is a plain HTTP 429).
func (h *Handler) RegisterRoutes(r fiber.Router) { r.Get(Path, h.handle) }

// RateCaller implements httpserver.CallerRoutes: an upgrade with a valid
// token (header or ?token=) is limited as its user.
func (h *Handler) RateCaller(c *fiber.Ctx) httpserver.Caller {
	p, _ := authenticate(c, h.auth) // the zero Principal when invalid
	return httpserver.Caller{UserID: p.UserID}
}

// handle refuses, in the common error format and before any upgrade: a
// request that is not a websocket upgrade (426), no or a bad token (401), a
// bad since (400), a disallowed Origin (403), a user at
// max_sockets_per_user (429), an instance at max_sockets or shutting down
// (503).
func (h *Handler) handle(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		c.Set(fiber.HeaderUpgrade, "websocket")
		return httpserver.Error(fiber.StatusUpgradeRequired, "upgrade_required", "GET /ws must be a websocket upgrade")
	}
	p, err := authenticate(c, h.auth)
	if err != nil {
		return err
	}
	since, replay, err := parseSince(c.Query("since"))
	if err != nil {
		return err
	}
	if !h.origins.allows(c.Get(fiber.HeaderOrigin), c.Hostname()) {
		return httpserver.Error(fiber.StatusForbidden, "forbidden", "origin not allowed")
	}
	cl := newClient(h.hub, h.auth)
	cl.s.userID = p.UserID
	cl.since, cl.replay = since, replay && h.hub.history != nil
	if cl.replay {
		cl.s.gate() // before joining: no live event may precede the replay
	}
	if err := admit(c, h.hub, cl.s); err != nil {
		return err
	}
	cl.s.armExpiry(p, h.auth.Leeway())
	h.hub.mu.Lock()
	cl.s.handshake = time.AfterFunc(handshakeTimeout, func() { h.hub.abandon(cl.s) })
	h.hub.mu.Unlock()
	c.Locals(clientLocal, cl)
	if err := h.upgrade(c); err != nil {
		h.hub.abandon(cl.s)
		return err
	}
	return nil
}

// authVerdict is authenticate's answer, kept for the rest of the request
// (under a key that is not a string: contrib/websocket does not copy it).
type authVerdict struct {
	p   auth.Principal
	err error
}

type authVerdictKey struct{}

// authenticate reads the token of a socket request (Authorization: Bearer
// or ?token=; the header wins) and verifies it, once per request: the
// rate limit's RateCaller asks first, and a bad token (which the
// verifier does not remember) must not cost two verifications.
func authenticate(c *fiber.Ctx, v *auth.Verifier) (auth.Principal, error) {
	if a, ok := c.Locals(authVerdictKey{}).(authVerdict); ok {
		return a.p, a.err
	}
	p, err := verifyToken(c, v)
	c.Locals(authVerdictKey{}, authVerdict{p: p, err: err})
	return p, err
}

func verifyToken(c *fiber.Ctx, v *auth.Verifier) (auth.Principal, error) {
	tok := c.Query("token")
	if hdr := c.Get(fiber.HeaderAuthorization); hdr != "" {
		t, err := auth.BearerToken(hdr)
		if err != nil {
			return auth.Principal{}, httpserver.Error(fiber.StatusUnauthorized, "unauthorized", "malformed Authorization header")
		}
		tok = t
	}
	if tok == "" {
		return auth.Principal{}, httpserver.Error(fiber.StatusUnauthorized, "unauthorized", "missing token (Authorization: Bearer or ?token=)")
	}
	p, err := v.Parse(tok)
	if err != nil {
		return auth.Principal{}, httpserver.Error(fiber.StatusUnauthorized, "unauthorized", "invalid or expired token")
	}
	return p, nil
}

// parseSince reads ?since=<event id>: empty means no replay; 0 replays
// the newest events within the replay bounds.
func parseSince(v string) (since int64, replay bool, err error) {
	if v == "" {
		return 0, false, nil
	}
	since, err = strconv.ParseInt(v, 10, 64)
	if err != nil || since < 0 {
		return 0, false, httpserver.BadRequest("since must be the id of the last event received (a non-negative integer)")
	}
	return since, true, nil
}

// admit reserves a slot for s and joins it to its user, or answers why
// not: 503 when the hub is full or closing, 429 at the user's cap.
func admit(c *fiber.Ctx, hub *Hub, s *session) error {
	if err := hub.reserve(s); err != nil {
		return refusal(c, err)
	}
	if err := hub.join(s); err != nil {
		hub.remove(s, reasonShutdown)
		return refusal(c, err)
	}
	return nil
}

// refusal maps a hub error to the HTTP error of a refused socket.
func refusal(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, ErrTooManySockets):
		c.Set(fiber.HeaderRetryAfter, "10")
		return httpserver.Error(fiber.StatusTooManyRequests, "too_many_sockets", "this user already holds the most sockets allowed (realtime.max_sockets_per_user)")
	case errors.Is(err, ErrServerFull):
		c.Set(fiber.HeaderRetryAfter, "5")
		return httpserver.Error(fiber.StatusServiceUnavailable, "unavailable", "this instance holds the most sockets allowed (realtime.max_sockets)")
	default:
		c.Set(fiber.HeaderRetryAfter, "1")
		return httpserver.Error(fiber.StatusServiceUnavailable, "unavailable", "server is shutting down")
	}
}

// serve runs on the socket's goroutine once the 101 is written.
func (h *Handler) serve(conn *websocket.Conn) {
	cl, _ := conn.Locals(clientLocal).(*client)
	if cl == nil {
		return
	}
	cl.serve(conn.Conn)
}

// recover logs a panic in a socket handler. contrib's default would write
// to the socket from here, racing with the writer goroutine.
func (h *Handler) recover(*websocket.Conn) {
	if r := recover(); r != nil {
		h.log.Error("panic in websocket handler", "panic", r, "stack", string(debug.Stack()))
	}
}
