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

// RegisterRoutes implements httpserver.Routes.
func (a *AdminRoutes) RegisterRoutes(r fiber.Router) {
	g := r.Group("/api/v1/admin/queues", a.verifier.Required(), auth.RequireRole(auth.RoleAdmin))
	g.Get("/", a.list)
	g.Get("/:name", a.one)
	g.Get("/:name/failed", a.failed)
	g.Post("/:name/failed/:id/retry", a.retry)
	g.Post("/:name/pause", a.pause)
	g.Post("/:name/resume", a.resume)
}

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
