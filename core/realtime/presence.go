package realtime

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// PresencePath is the presence route.
const PresencePath = "/api/v1/users/:id/presence"

// PresenceHandler serves GET /api/v1/users/{id}/presence.
type PresenceHandler struct {
	hub  *Hub
	auth *auth.Verifier
}

// NewPresenceHandler returns the presence route over hub's presence.
func NewPresenceHandler(hub *Hub, v *auth.Verifier) *PresenceHandler {
	return &PresenceHandler{hub: hub, auth: v}
}

// RegisterRoutes implements httpserver.Routes.
func (p *PresenceHandler) RegisterRoutes(r fiber.Router) {
	r.Get(PresencePath, p.auth.Required(), p.get)
}

// presence is the route's answer.
type presence struct {
	Online  bool `json:"online"`
	Sockets int  `json:"sockets"`
}

// get answers {"online","sockets"} for the user itself or an admin; 503
// when the shared store cannot be read.
func (p *PresenceHandler) get(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return httpserver.BadRequest("user id must be a positive integer")
	}
	if who, _ := auth.PrincipalFrom(c); who.UserID != id && !who.IsAdmin() {
		return httpserver.Error(http.StatusForbidden, "forbidden", "only the user or an admin may read this presence")
	}
	n, err := p.hub.Presence(c.UserContext(), id)
	if err != nil {
		p.hub.log.Warn("presence unavailable", "user_id", id, "err", err)
		c.Set(fiber.HeaderRetryAfter, "1")
		return httpserver.Error(http.StatusServiceUnavailable, "unavailable", "presence is unavailable")
	}
	return c.JSON(presence{Online: n > 0, Sockets: n})
}
