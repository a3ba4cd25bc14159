package gamification

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/modules/user"
)

// Handlers serves the badge routes.
type Handlers struct {
	svc *Service
	v   *auth.Verifier
}

// NewHandlers returns the module's routes.
func NewHandlers(svc *Service, v *auth.Verifier) *Handlers { return &Handlers{svc: svc, v: v} }

// RegisterRoutes implements httpserver.Routes.
func (h *Handlers) RegisterRoutes(r fiber.Router) {
	r.Get("/api/v1/badges", h.v.Required(), h.list)
	r.Post("/api/v1/users/:id/badges", h.v.Required(), auth.RequireRole(auth.RoleAdmin), h.grant)
}

func (h *Handlers) list(c *fiber.Ctx) error {
	b, err := h.svc.Badges(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(b)
}

func (h *Handlers) grant(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return httpserver.BadRequest("user id must be a positive integer")
	}
	var req struct {
		BadgeID int64 `json:"badgeId"`
	}
	if err := user.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.BadgeID <= 0 {
		return httpserver.Error(http.StatusBadRequest, "invalid_badgeId", "badgeId must be a positive integer")
	}
	g, err := h.svc.GrantBadge(c.UserContext(), id, req.BadgeID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return httpserver.Error(http.StatusNotFound, "user_not_found", "user not found")
	case errors.Is(err, ErrBadgeNotFound):
		return httpserver.Error(http.StatusNotFound, "badge_not_found", "badge not found")
	case errors.Is(err, ErrAlreadyGranted):
		return httpserver.Error(http.StatusConflict, "already_granted", "the user already has this badge")
	case err != nil:
		return err
	}
	return c.Status(http.StatusCreated).JSON(g)
}
