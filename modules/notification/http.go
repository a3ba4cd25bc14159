package notification

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// Page size bounds of the inbox route.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Routes serves the inbox routes.
type Routes struct {
	store *Store
	v     *auth.Verifier
}

// NewRoutes returns the module's routes.
func NewRoutes(store *Store, v *auth.Verifier) *Routes { return &Routes{store: store, v: v} }

// Endpoints implements httpserver.Endpoints.
func (h *Routes) Endpoints() []httpserver.Route {
	return []httpserver.Route{
		{Method: "GET", Path: "/api/v1/users/:id/notifications", Access: h.v.SignedIn(), Handler: h.list},
		{Method: "POST", Path: "/api/v1/users/:id/notifications/:nid/read", Access: h.v.SignedIn(), Handler: h.markRead, Action: "notification.read"},
	}
}

// owner parses :id and checks the caller is that user or an admin.
func owner(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, httpserver.BadRequest("user id must be a positive integer")
	}
	if p, _ := auth.PrincipalFrom(c); p.UserID != id && !p.IsAdmin() {
		return 0, httpserver.Error(http.StatusForbidden, "forbidden", "only the user or an admin may read this inbox")
	}
	return id, nil
}

func (h *Routes) list(c *fiber.Ctx) error {
	id, err := owner(c)
	if err != nil {
		return err
	}
	limit := DefaultLimit
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > MaxLimit {
			return httpserver.BadRequest("limit must be an integer from 1 to " + strconv.Itoa(MaxLimit))
		}
	}
	var before int64
	if s := c.Query("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before <= 0 {
			return httpserver.BadRequest("before must be a notification id")
		}
	}
	items, err := h.store.List(c.UserContext(), id, limit, before)
	if err != nil {
		return err
	}
	return c.JSON(items)
}

func (h *Routes) markRead(c *fiber.Ctx) error {
	id, err := owner(c)
	if err != nil {
		return err
	}
	nid, err := strconv.ParseInt(c.Params("nid"), 10, 64)
	if err != nil || nid <= 0 {
		return httpserver.BadRequest("notification id must be a positive integer")
	}
	n, err := h.store.MarkRead(c.UserContext(), id, nid)
	if errors.Is(err, ErrNotFound) {
		return httpserver.Error(http.StatusNotFound, "notification_not_found", "notification not found")
	}
	if err != nil {
		return err
	}
	return c.JSON(n)
}
