package httpserver

import (
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/auth"
)

// Route is one endpoint a module serves: method, full path (Fiber syntax,
// e.g. "/api/v1/users/:id/profile"), who may call it, and its handler.
//
// The server attaches Access's check to the route itself, and mounts
// public routes, then the default-deny guard of /api, then the others:
// whatever order modules come in, a route is exactly as protected as it
// says. A route whose Access is not declared stops the server's start.
type Route struct {
	Method  string
	Path    string
	Access  auth.Access
	Handler fiber.Handler
	// Action names the route in audit lines ("user.create"); empty means
	// "METHOD path". Writes (any method but GET, HEAD, OPTIONS) and every
	// route that needs a role are audited.
	Action string
}

// Endpoints is what a module contributes: its routes.
type Endpoints interface {
	Endpoints() []Route
}

// EndpointsFunc adapts a function to Endpoints.
type EndpointsFunc func() []Route

// Endpoints calls f.
func (f EndpointsFunc) Endpoints() []Route { return f() }

// AsEndpoints provides the result of a constructor returning Endpoints so its result
// joins the "http.endpoints" value group.
func AsEndpoints(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.As(new(Endpoints)), fx.ResultTags(`group:"http.endpoints"`)))
}

// Routes registers handlers on the app's root router by itself. It is for
// protocols that authenticate themselves (the websocket upgrade reads
// ?token=); such routes are mounted after every Endpoints route, any under
// /api still pass the default-deny guard (a valid token), and every
// handler chain they register starts with the rate limit per caller, like
// an Endpoints route's (a request counts once). A Routes that also
// implements Endpoints is mounted as Endpoints.
type Routes interface {
	RegisterRoutes(r fiber.Router)
}

// CallerRoutes is a Routes that knows more of its requests than the
// server does (the server reads only the Authorization header): its
// routes' rate limit asks RateCaller first.
type CallerRoutes interface {
	Routes
	// RateCaller describes c for the rate limit. It runs before the limit,
	// on every request: it must cost no more than the route's own check of
	// c's credential.
	RateCaller(c *fiber.Ctx) Caller
}

// Caller is what a CallerRoutes says of a request.
type Caller struct {
	// UserID, when positive, is the user the request's own credential
	// names (a ?token=, a session): without a valid bearer token it is
	// limited as that user (its bucket shared with the user's /api
	// requests) rather than by IP.
	UserID int64
	// Paced marks a request whose rate the server sets, not the client (a
	// long poll, answered only when the server has something to send): it
	// is not counted. Only the route's own state may say so, never
	// something the request carries alone.
	Paced bool
}

// RoutesFunc adapts a function to Routes.
type RoutesFunc func(r fiber.Router)

// RegisterRoutes calls f.
func (f RoutesFunc) RegisterRoutes(r fiber.Router) { f(r) }

// AsRoutes provides the result of a constructor returning Routes so its result joins
// the "http.routes" value group.
func AsRoutes(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.As(new(Routes)), fx.ResultTags(`group:"http.routes"`)))
}

// Mount registers routes on r, each with its Access check and audit line
// in its own handler chain (so it holds in any registration order). It is
// for a Routes that also offers Endpoints and is registered on a router by
// hand; the server itself mounts Endpoints in its fixed order.
func Mount(r fiber.Router, routes []Route) {
	if err := checkRoutes(routes); err != nil {
		panic(err)
	}
	for _, rt := range routes {
		mountOne(r, rt, nil, nil)
	}
}

func checkRoutes(routes []Route) error {
	for _, rt := range routes {
		switch {
		case rt.Method == "" || rt.Path == "" || rt.Handler == nil:
			return fmt.Errorf("httpserver: route %s %q needs a method, a path and a handler", rt.Method, rt.Path)
		case !rt.Access.Declared():
			return fmt.Errorf("httpserver: route %s %s declares no Access (auth.Public(), verifier.SignedIn() or verifier.Role(...))", rt.Method, rt.Path)
		}
	}
	return nil
}

func mountOne(r fiber.Router, rt Route, a *auditor, limit fiber.Handler) {
	chain := make([]fiber.Handler, 0, 5)
	if rt.Path == "/api" || strings.HasPrefix(rt.Path, "/api/") {
		// API answers are per caller or carry credentials (a public route's
		// is in its path): no shared cache keeps them.
		chain = append(chain, noStore)
	}
	if limit != nil {
		chain = append(chain, limit)
	}
	if audited(rt) {
		chain = append(chain, a.handler(rt))
	}
	chain = append(chain, rt.Access.Handler(), rt.Handler)
	r.Add(strings.ToUpper(rt.Method), rt.Path, chain...)
}

func noStore(c *fiber.Ctx) error {
	auth.NoStore(c)
	return c.Next()
}

// audited: writes and role-restricted routes (admin actions, reads
// included) leave an audit line.
func audited(rt Route) bool {
	switch strings.ToUpper(rt.Method) {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return len(rt.Access.Roles()) > 0
	}
	return true
}
