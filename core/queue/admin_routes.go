package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
)

// AdminRoutes serves the queue admin routes under /api/v1/admin/queues:
// reading for the admin and viewer roles, acting for admins only.
type AdminRoutes struct {
	admin    *Admin
	store    Store
	hub      *EventHub
	verifier *auth.Verifier
	logger   *slog.Logger
	// KeepAlive is how often an idle event stream gets a comment line.
	KeepAlive time.Duration
}

// NewAdminRoutes returns the routes over admin, its store (for event
// replay) and hub, guarded by verifier.
func NewAdminRoutes(admin *Admin, store Store, hub *EventHub, verifier *auth.Verifier, logger *slog.Logger) *AdminRoutes {
	return &AdminRoutes{admin: admin, store: store, hub: hub, verifier: verifier, logger: logger, KeepAlive: 15 * time.Second}
}

// Endpoints implements httpserver.Endpoints: reading for the admin and
// viewer roles, acting for admins; every route is audited (who, what,
// which queue and job) by the server.
func (a *AdminRoutes) Endpoints() []httpserver.Route {
	read := a.verifier.Role(auth.RoleAdmin, auth.RoleViewer)
	act := a.verifier.Role(auth.RoleAdmin)
	const p = "/api/v1/admin/queues"
	return []httpserver.Route{
		{Method: "GET", Path: p, Access: read, Handler: a.list},
		{Method: "GET", Path: p + "/:name", Access: read, Handler: a.one},
		{Method: "GET", Path: p + "/:name/failed", Access: read, Handler: a.failed},
		{Method: "POST", Path: p + "/:name/failed/:id/retry", Access: act, Handler: a.retryDead, Action: "queue.job.retry"},
		{Method: "POST", Path: p + "/:name/pause", Access: act, Handler: a.pause, Action: "queue.pause"},
		{Method: "POST", Path: p + "/:name/resume", Access: act, Handler: a.resume, Action: "queue.resume"},
		{Method: "GET", Path: p + "/:name/jobs", Access: read, Handler: a.jobs},
		{Method: "GET", Path: p + "/:name/jobs/:id", Access: read, Handler: a.job},
		{Method: "POST", Path: p + "/:name/jobs/:id/retry", Access: act, Handler: a.act(ActRetry), Action: "queue.job.retry"},
		{Method: "POST", Path: p + "/:name/jobs/:id/promote", Access: act, Handler: a.act(ActPromote), Action: "queue.job.promote"},
		{Method: "POST", Path: p + "/:name/jobs/:id/cancel", Access: act, Handler: a.act(ActCancel), Action: "queue.job.cancel"},
		{Method: "DELETE", Path: p + "/:name/jobs/:id", Access: act, Handler: a.remove, Action: "queue.job.remove"},
		{Method: "POST", Path: p + "/:name/retry-failed", Access: act, Handler: a.retryFailed, Action: "queue.retry_failed"},
		{Method: "POST", Path: p + "/:name/clean", Access: act, Handler: a.clean, Action: "queue.clean"},
		{Method: "GET", Path: p + "/:name/metrics", Access: read, Handler: a.minutes},
		{Method: "GET", Path: p + "/:name/events", Access: read, Handler: a.events},
		{Method: "GET", Path: p + "/:name/schedulers", Access: read, Handler: a.schedules},
		{Method: "GET", Path: p + "/:name/schedulers/:id", Access: read, Handler: a.schedule},
		{Method: "PUT", Path: p + "/:name/schedulers/:id", Access: act, Handler: a.putSchedule, Action: "queue.schedule.put"},
		{Method: "DELETE", Path: p + "/:name/schedulers/:id", Access: act, Handler: a.deleteSchedule, Action: "queue.schedule.delete"},
	}
}

func (a *AdminRoutes) schedules(c *fiber.Ctx) error {
	s, err := a.admin.Schedules(c.UserContext(), c.Params("name"))
	if err != nil {
		return httpError(err)
	}
	return c.JSON(s)
}

func (a *AdminRoutes) schedule(c *fiber.Ctx) error {
	s, err := a.admin.Schedule(c.UserContext(), c.Params("name"), c.Params("id"))
	if err != nil {
		return httpError(err)
	}
	return c.JSON(s)
}

func (a *AdminRoutes) putSchedule(c *fiber.Ctx) error {
	var sc Schedule
	if err := httpserver.DecodeJSON(c, &sc); err != nil {
		return err
	}
	name, id := c.Params("name"), c.Params("id")
	if sc.ID != "" && sc.ID != id {
		return httpserver.BadRequest(fmt.Sprintf("id: %q differs from the path's %q", sc.ID, id))
	}
	sc.ID = id
	if err := a.admin.PutSchedule(c.UserContext(), name, sc); err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+name+"/"+id)
	s, err := a.admin.Schedule(c.UserContext(), name, id)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(s)
}

func (a *AdminRoutes) deleteSchedule(c *fiber.Ctx) error {
	name, id := c.Params("name"), c.Params("id")
	if err := a.admin.DeleteSchedule(c.UserContext(), name, id); err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+name+"/"+id)
	return c.SendStatus(http.StatusNoContent)
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

func parseLimit(c *fiber.Ctx) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, httpserver.BadRequest("limit: must be a whole number from 1 to 1000")
	}
	return n, nil
}

func (a *AdminRoutes) failed(c *fiber.Ctx) error {
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	f, err := a.admin.Failed(c.UserContext(), c.Params("name"), limit)
	if err != nil {
		return httpError(err)
	}
	return c.JSON(f)
}

func (a *AdminRoutes) retryDead(c *fiber.Ctx) error {
	name, id := c.Params("name"), c.Params("id")
	if err := a.admin.Retry(c.UserContext(), name, id); err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+name+"/"+id)
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"id": id, "state": StateWaiting})
}

func (a *AdminRoutes) pause(c *fiber.Ctx) error {
	if err := a.admin.Pause(c.UserContext(), c.Params("name")); err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+c.Params("name"))
	return a.one(c)
}

func (a *AdminRoutes) resume(c *fiber.Ctx) error {
	if err := a.admin.Resume(c.UserContext(), c.Params("name")); err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+c.Params("name"))
	return a.one(c)
}

// jobsPage is the answer of GET …/jobs.
type jobsPage struct {
	Jobs []JobView `json:"jobs"`
	// Next continues the listing (null at the end).
	Next *string `json:"next"`
	// Partial (searches only) says the search stopped at its budget (of
	// time or of examined jobs); Next continues it.
	Partial bool `json:"partial,omitempty"`
	Scanned int  `json:"scanned,omitempty"`
}

func (a *AdminRoutes) jobs(c *fiber.Ctx) error {
	limit, err := parseLimit(c)
	if err != nil {
		return err
	}
	state := State(c.Query("state", string(StateWaiting)))
	if !state.Valid() {
		return httpserver.BadRequest(fmt.Sprintf("state: %q is not one of waiting, active, delayed, completed, failed, cancelled", state))
	}
	q := c.Query("q")
	if len(q) > 256 {
		return httpserver.BadRequest("q: longer than 256 bytes")
	}
	page, err := a.admin.Jobs(c.UserContext(), c.Params("name"), JobQuery{State: state, Limit: limit, Cursor: c.Query("cursor"), Search: q})
	if err != nil {
		return httpError(err)
	}
	out := jobsPage{Jobs: make([]JobView, len(page.Jobs)), Partial: page.Partial, Scanned: page.Scanned}
	for i, j := range page.Jobs {
		out.Jobs[i] = j.View()
	}
	if page.Next != "" {
		out.Next = &page.Next
	}
	return c.JSON(out)
}

func (a *AdminRoutes) job(c *fiber.Ctx) error {
	j, err := a.admin.Job(c.UserContext(), c.Params("name"), c.Params("id"))
	if err != nil {
		return httpError(err)
	}
	return c.JSON(j.Detail())
}

func (a *AdminRoutes) act(act Action) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name, id := c.Params("name"), c.Params("id")
		if err := a.admin.Act(c.UserContext(), name, id, act); err != nil {
			return httpError(err)
		}
		httpserver.AuditTarget(c, "queue:"+name+"/"+id)
		return c.Status(http.StatusAccepted).JSON(fiber.Map{"id": id, "action": act})
	}
}

func (a *AdminRoutes) remove(c *fiber.Ctx) error {
	name, id := c.Params("name"), c.Params("id")
	if err := a.admin.Act(c.UserContext(), name, id, ActRemove); err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+name+"/"+id)
	return c.SendStatus(http.StatusNoContent)
}

func (a *AdminRoutes) retryFailed(c *fiber.Ctx) error {
	n, err := a.admin.RetryFailed(c.UserContext(), c.Params("name"))
	if err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+c.Params("name"))
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"count": n})
}

type cleanRequest struct {
	State     State  `json:"state"`
	OlderThan string `json:"olderThan"`
}

func (a *AdminRoutes) clean(c *fiber.Ctx) error {
	var req cleanRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	switch req.State {
	case StateCompleted, StateFailed, StateCancelled:
	default:
		return httpserver.BadRequest(fmt.Sprintf("state: %q is not one of completed, failed, cancelled", req.State))
	}
	var older time.Duration
	if req.OlderThan != "" {
		d, err := time.ParseDuration(req.OlderThan)
		if err != nil || d < 0 {
			return httpserver.BadRequest(fmt.Sprintf("olderThan: %q is not a duration such as 90s, 15m or 24h", req.OlderThan))
		}
		older = d
	}
	n, err := a.admin.Clean(c.UserContext(), c.Params("name"), req.State, older)
	if err != nil {
		return httpError(err)
	}
	httpserver.AuditTarget(c, "queue:"+c.Params("name")+" state:"+string(req.State))
	return c.JSON(fiber.Map{"count": n})
}

func (a *AdminRoutes) minutes(c *fiber.Ctx) error {
	span := time.Hour
	if v := c.Query("range"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 24*time.Hour {
			return httpserver.BadRequest("range: must be a duration up to 24h, such as 1h or 24h")
		}
		span = d
	}
	m, err := a.admin.Minutes(c.UserContext(), c.Params("name"), time.Now().Add(-span))
	if err != nil {
		return httpError(err)
	}
	if m == nil {
		m = []Minute{}
	}
	return c.JSON(m)
}

// events streams the queue's job transitions as Server-Sent Events: one
// `data:` JSON line per transition, with the event's id, so a client that
// reconnects with Last-Event-ID (header, or the lastEventId query for
// clients that cannot set it) gets what it missed, from the bounded
// history, before the live events.
func (a *AdminRoutes) events(c *fiber.Ctx) error {
	name := c.Params("name")
	if _, err := a.admin.QueueStats(c.UserContext(), name); err != nil {
		return httpError(err)
	}
	last := c.Get("Last-Event-ID", c.Query("lastEventId"))
	l, err := a.hub.Listen(name)
	if err != nil {
		return httpError(err)
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	keepAlive := a.KeepAlive
	// The stream moves its own write deadline on at each write
	// (keep-alives included), so that http.write_timeout does not cut it.
	extend := httpserver.StreamDeadline(c, keepAlive+10*time.Second)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer l.Close()
		send := func(ev Event) error {
			extend()
			b, _ := json.Marshal(ev)
			if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", ev.ID, b); err != nil {
				return err
			}
			return w.Flush()
		}
		// Greet at once, so the client sees the stream open.
		if _, err := w.WriteString("retry: 1000\n: connected\n\n"); err != nil || w.Flush() != nil {
			return
		}
		var seen map[string]bool
		if last != "" {
			seen = map[string]bool{}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := Replay(ctx, a.store, name, last, func(ev Event) error {
				seen[ev.ID] = true
				return send(ev)
			})
			cancel()
			if err != nil {
				return
			}
		}
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		for {
			select {
			case ev, ok := <-l.C:
				if !ok {
					return
				}
				if seen != nil {
					if seen[ev.ID] {
						continue // already sent by the replay
					}
					seen = nil
				}
				if send(ev) != nil {
					return
				}
			case <-t.C:
				extend()
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					return
				}
			}
		}
	})
	return nil
}

// httpError maps the package's sentinels; anything else is a 503, since
// it means the queue's storage did not answer.
func httpError(err error) error {
	switch {
	case errors.Is(err, ErrQueueNotFound):
		return httpserver.Error(http.StatusNotFound, "queue_not_found", err.Error())
	case errors.Is(err, ErrJobNotFound):
		return httpserver.Error(http.StatusNotFound, "job_not_found", err.Error())
	case errors.Is(err, ErrJobState):
		return httpserver.Error(http.StatusConflict, "job_state_conflict", err.Error())
	case errors.Is(err, ErrUndecodable):
		return httpserver.Error(http.StatusConflict, "job_not_retryable", "the dead entry is not a decodable job and cannot be retried")
	case errors.Is(err, ErrBadQuery), errors.Is(err, ErrBadSchedule):
		return httpserver.BadRequest(err.Error())
	case errors.Is(err, ErrScheduleNotFound):
		return httpserver.Error(http.StatusNotFound, "schedule_not_found", err.Error())
	case errors.Is(err, ErrSchedulesUnsupported):
		return httpserver.Error(http.StatusNotImplemented, "schedules_unsupported", err.Error())
	default:
		return httpserver.Error(http.StatusServiceUnavailable, "queue_unavailable", "queue storage unavailable: "+err.Error())
	}
}
