package analytics

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
)

// Routes serves the analytics routes.
type Routes struct {
	store *Store
	q     queue.Enqueuer
	v     *auth.Verifier
}

// NewRoutes returns the module's routes.
func NewRoutes(store *Store, q queue.Enqueuer, v *auth.Verifier) *Routes {
	return &Routes{store: store, q: q, v: v}
}

// Endpoints implements httpserver.Endpoints.
func (h *Routes) Endpoints() []httpserver.Route {
	return []httpserver.Route{
		{Method: "POST", Path: "/api/v1/analytics/events", Access: h.v.SignedIn(), Handler: h.track, Action: "analytics.track"},
		{Method: "GET", Path: "/api/v1/admin/analytics/events", Access: h.v.Role(auth.RoleAdmin), Handler: h.counts},
	}
}

func (h *Routes) track(c *fiber.Ctx) error {
	var req struct {
		Event string         `json:"event"`
		Data  map[string]any `json:"data"`
	}
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if !ValidEvent(req.Event) {
		return httpserver.Error(http.StatusBadRequest, "invalid_event", "event must be 1 to 64 of letters, digits and _ . : -")
	}
	p, _ := auth.PrincipalFrom(c)
	id, err := h.q.Enqueue(c.UserContext(), Queue, JobName,
		Event{Event: req.Event, UserID: p.UserID, Data: req.Data, At: time.Now().UTC()},
		queue.WithPriority(queue.PriorityLow), queue.WithCorrelationID(httpserver.RequestID(c)))
	if err != nil {
		return err
	}
	httpserver.AuditTarget(c, "job:"+id)
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"jobId": id})
}

func (h *Routes) counts(c *fiber.Ctx) error {
	today := time.Now().UTC().Format(time.DateOnly)
	from, to := c.Query("from", today), c.Query("to", today)
	for _, d := range []string{from, to} {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return httpserver.BadRequest("from and to must be dates as YYYY-MM-DD")
		}
	}
	if from > to {
		return httpserver.BadRequest("from must not be after to")
	}
	event := c.Query("event")
	if event != "" && !ValidEvent(event) {
		return httpserver.Error(http.StatusBadRequest, "invalid_event", "event must be 1 to 64 of letters, digits and _ . : -")
	}
	counts, err := h.store.Counts(c.UserContext(), event, from, to)
	if err != nil {
		return err
	}
	return c.JSON(counts)
}
