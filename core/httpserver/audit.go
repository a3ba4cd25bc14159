package httpserver

import (
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tipbox/tipbox/core/auth"
)

const auditTargetLocal = "tipbox.audit.target"

// AuditTarget names what a request acted on when the path does not say
// it all ("user:42" for a user just created, "user:7 badge:3" for a
// grant). The route's audit line carries it.
func AuditTarget(c *fiber.Ctx, target string) { c.Locals(auditTargetLocal, target) }

// auditor writes one line per audited request, after the handler: who
// (actor, role, ip), what (action), on what (target), and the outcome
// (status). Every line has the message "audit" and one "audit" group with
// the same keys, so a log pipeline can route them by either.
type auditor struct {
	log    *slog.Logger
	render func(*fiber.Ctx, error) error
}

func (a *auditor) handler(rt Route) fiber.Handler {
	action := rt.Action
	if action == "" {
		action = strings.ToUpper(rt.Method) + " " + rt.Path
	}
	log, render := slog.Default(), func(c *fiber.Ctx, err error) error { return err }
	if a != nil {
		log, render = a.log, a.render
	}
	return func(c *fiber.Ctx) error {
		if err := c.Next(); err != nil {
			// Render now so the line has the status the client gets.
			if rerr := render(c, err); rerr != nil {
				return rerr
			}
		}
		actor, role := "anonymous", ""
		if p, ok := auth.PrincipalFrom(c); ok {
			actor, role = "user:"+strconv.FormatInt(p.UserID, 10), p.Role
		}
		target, _ := c.Locals(auditTargetLocal).(string)
		if target == "" {
			target = paramsTarget(c)
		}
		status := c.Response().StatusCode()
		log.LogAttrs(c.UserContext(), slog.LevelInfo, "audit", slog.Group("audit",
			slog.String("actor", actor),
			slog.String("role", role),
			slog.String("action", action),
			slog.String("target", target),
			slog.Int("status", status),
			slog.Bool("ok", status < 400),
			slog.String("ip", c.IP()),
			slog.String("request_id", RequestID(c)),
		))
		return nil
	}
}

// paramsTarget is "name=value" for each route parameter, in path order.
func paramsTarget(c *fiber.Ctx) string {
	names := c.Route().Params
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+"="+c.Params(n))
	}
	return strings.Join(parts, " ")
}
