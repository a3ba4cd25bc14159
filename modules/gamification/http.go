package gamification

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// Routes serves the badge routes.
type Routes struct {
	svc *Service
	v   *auth.Verifier
}

// NewRoutes returns the module's routes.
func NewRoutes(svc *Service, v *auth.Verifier) *Routes { return &Routes{svc: svc, v: v} }

// Endpoints implements httpserver.Endpoints.
func (h *Routes) Endpoints() []httpserver.Route {
	return []httpserver.Route{
		{Method: "GET", Path: "/api/v1/badges", Access: h.v.SignedIn(), Handler: h.list},
		{Method: "POST", Path: "/api/v1/users/:id/badges", Access: h.v.Role(auth.RoleAdmin), Handler: h.grant, Action: "badge.grant"},
	}
}

func (h *Routes) list(c *fiber.Ctx) error {
	b, err := h.svc.Badges(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(b)
}

func (h *Routes) grant(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return httpserver.BadRequest("user id must be a positive integer")
	}
	var req struct {
		BadgeID int64 `json:"badgeId"`
	}
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.BadgeID <= 0 {
		return httpserver.Error(http.StatusBadRequest, "invalid_badgeId", "badgeId must be a positive integer")
	}
	httpserver.AuditTarget(c, fmt.Sprintf("user:%d badge:%d", id, req.BadgeID))
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
