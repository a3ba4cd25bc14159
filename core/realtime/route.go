package realtime

import (
	"log/slog"
	"runtime/debug"

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

// RegisterRoutes implements httpserver.Routes.
func (h *Handler) RegisterRoutes(r fiber.Router) { r.Get(Path, h.handle) }

// handle refuses, in the common error format and before any upgrade: a
// request that is not a websocket upgrade (426), no or a bad token (401),
// a disallowed Origin (403), a hub that is shutting down (503).
func (h *Handler) handle(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		c.Set(fiber.HeaderUpgrade, "websocket")
		return httpserver.Error(fiber.StatusUpgradeRequired, "upgrade_required", "GET /ws must be a websocket upgrade")
	}
	tok := c.Query("token")
	if hdr := c.Get(fiber.HeaderAuthorization); hdr != "" {
		t, err := auth.BearerToken(hdr)
		if err != nil {
			return httpserver.Error(fiber.StatusUnauthorized, "unauthorized", "malformed Authorization header")
		}
		tok = t
	}
	if tok == "" {
		return httpserver.Error(fiber.StatusUnauthorized, "unauthorized", "missing token (Authorization: Bearer or ?token=)")
	}
	p, err := h.auth.Parse(tok)
	if err != nil {
		return httpserver.Error(fiber.StatusUnauthorized, "unauthorized", "invalid or expired token")
	}
	if !h.origins.allows(c.Get(fiber.HeaderOrigin), c.Hostname()) {
		return httpserver.Error(fiber.StatusForbidden, "forbidden", "origin not allowed")
	}
	cl, err := h.hub.register(p.UserID)
	if err != nil {
		c.Set(fiber.HeaderRetryAfter, "1")
		return httpserver.Error(fiber.StatusServiceUnavailable, "unavailable", "server is shutting down")
	}
	c.Locals(clientLocal, cl)
	if err := h.upgrade(c); err != nil {
		h.hub.abandon(cl)
		return err
	}
	return nil
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
