package httpserver

import (
	"net/http"
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// setSecurityHeaders marks every response: browsers must not sniff a JSON
// error into HTML or script.
func setSecurityHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
}

func securityHeaders() fiber.Handler {
	return func(c *fiber.Ctx) error {
		setSecurityHeaders(c)
		return c.Next()
	}
}

// notFound answers every request no route took. The body does not repeat
// the path: a reflected path is a building block for content injection.
func notFound(c *fiber.Ctx) error {
	return Error(http.StatusNotFound, "not_found", "no such route")
}

// methodLabel keeps the metrics' method label bounded.
func methodLabel(m string) string {
	if slices.Contains(fiber.DefaultMethods, m) {
		return m
	}
	return "OTHER"
}

var invalidMethodBody = []byte(`{"error":{"code":"not_implemented","message":"unsupported HTTP method"}}`)

// knownMethods answers a request whose method Fiber does not know itself:
// Fiber would send a plain-text 400 before any middleware runs.
func (s *Server) knownMethods(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if slices.Contains(fiber.DefaultMethods, string(ctx.Method())) {
			next(ctx)
			return
		}
		ctx.Response.Header.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		ctx.SetStatusCode(http.StatusNotImplemented)
		ctx.SetContentType(fiber.MIMEApplicationJSON)
		ctx.SetBody(invalidMethodBody)
		s.metrics.observe(unmatched, "OTHER", http.StatusNotImplemented, 0)
	}
}
