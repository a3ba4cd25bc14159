package queue

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// AdminRoutes serves the admin queue routes of SPEC §4 under
// /api/v1/admin/queues, for callers with the admin role.
type AdminRoutes struct {
	admin    Admin
	verifier *auth.Verifier
}

// NewAdminRoutes returns the routes over admin, guarded by verifier.
func NewAdminRoutes(admin Admin, verifier *auth.Verifier) *AdminRoutes {
	return &AdminRoutes{admin: admin, verifier: verifier}
}

// Endpoints implements httpserver.Endpoints: every route is for admins
// (and audited).
func (a *AdminRoutes) Endpoints() []httpserver.Route {
	admin := a.verifier.Role(auth.RoleAdmin)
	const p = "/api/v1/admin/queues"
	return []httpserver.Route{
		{Method: "GET", Path: p, Access: admin, Handler: a.list},
		{Method: "GET", Path: p + "/:name", Access: admin, Handler: a.one},
		{Method: "GET", Path: p + "/:name/failed", Access: admin, Handler: a.failed},
		{Method: "POST", Path: p + "/:name/failed/:id/retry", Access: admin, Handler: a.retry, Action: "queue.retry"},
		{Method: "POST", Path: p + "/:name/pause", Access: admin, Handler: a.pause, Action: "queue.pause"},
		{Method: "POST", Path: p + "/:name/resume", Access: admin, Handler: a.resume, Action: "queue.resume"},
	}
}

// RegisterRoutes implements httpserver.Routes (the server mounts
// Endpoints instead).
func (a *AdminRoutes) RegisterRoutes(r fiber.Router) { httpserver.Mount(r, a.Endpoints()) }

func (a *AdminRoutes) list(c *fiber.Ctx) error {
	s, err := a.admin.Stats(c.UserContext())
	if err != nil {
		return httpError(err)
	}
	return c.JSON(s)
}

func (a *AdminRoutes) one(c *fiber.Ctx) error {
	s, err := a.admin.QueueStats(c.UserContext(), c.Params("name"))
	if err != nil {
		return httpError(err)
	}
	return c.JSON(s)
}

func (a *AdminRoutes) failed(c *fiber.Ctx) error {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return httpserver.BadRequest("limit: must be a whole number from 1 to 1000")
		}
		limit = n
	}
	f, err := a.admin.Failed(c.UserContext(), c.Params("name"), limit)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(f)
}

func (a *AdminRoutes) retry(c *fiber.Ctx) error {
	if err := a.admin.Retry(c.UserContext(), c.Params("name"), c.Params("id")); err != nil {
		return httpError(err)
	}
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"id": c.Params("id"), "status": "waiting"})
}

func (a *AdminRoutes) pause(c *fiber.Ctx) error {
	if err := a.admin.Pause(c.UserContext(), c.Params("name")); err != nil {
		return httpError(err)
	}
	return a.one(c)
}

func (a *AdminRoutes) resume(c *fiber.Ctx) error {
	if err := a.admin.Resume(c.UserContext(), c.Params("name")); err != nil {
		return httpError(err)
	}
	return a.one(c)
}

// httpError maps the package's sentinels; anything else is a 503, since
// it means the queue's storage did not answer.
func httpError(err error) error {
	switch {
	case errors.Is(err, ErrQueueNotFound):
		return httpserver.Error(http.StatusNotFound, "queue_not_found", err.Error())
	case errors.Is(err, ErrJobNotFound):
		return httpserver.Error(http.StatusNotFound, "job_not_found", err.Error())
	case errors.Is(err, ErrUndecodable):
		return httpserver.Error(http.StatusConflict, "job_not_retryable", "the dead entry is not a decodable job and cannot be retried")
	default:
		return httpserver.Error(http.StatusServiceUnavailable, "queue_unavailable", "queue storage unavailable: "+err.Error())
	}
}
