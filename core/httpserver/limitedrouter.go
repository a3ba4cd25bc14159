package httpserver

import (
	"slices"

	"github.com/gofiber/fiber/v2"
)

// limitedRouter is the router a raw Routes registers on: every handler
// chain added through it, routes and middleware alike, starts with limit.
// The limit counts a request once however many of them it passes.
type limitedRouter struct {
	r     fiber.Router
	limit fiber.Handler
}

var _ fiber.Router = limitedRouter{}

func (l limitedRouter) with(r fiber.Router) fiber.Router { return limitedRouter{r: r, limit: l.limit} }

func (l limitedRouter) chain(handlers []fiber.Handler) []fiber.Handler {
	return append([]fiber.Handler{l.limit}, handlers...)
}

// Use takes an optional prefix, then handlers: the limit goes before them.
func (l limitedRouter) Use(args ...any) fiber.Router {
	if i := slices.IndexFunc(args, func(a any) bool { _, ok := a.(fiber.Handler); return ok }); i >= 0 {
		args = slices.Insert(slices.Clone(args), i, any(l.limit))
	}
	return l.with(l.r.Use(args...))
}

func (l limitedRouter) Get(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Get(path, l.chain(handlers)...))
}

func (l limitedRouter) Head(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Head(path, l.chain(handlers)...))
}

func (l limitedRouter) Post(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Post(path, l.chain(handlers)...))
}

func (l limitedRouter) Put(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Put(path, l.chain(handlers)...))
}

func (l limitedRouter) Delete(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Delete(path, l.chain(handlers)...))
}

func (l limitedRouter) Connect(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Connect(path, l.chain(handlers)...))
}

func (l limitedRouter) Options(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Options(path, l.chain(handlers)...))
}

func (l limitedRouter) Trace(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Trace(path, l.chain(handlers)...))
}

func (l limitedRouter) Patch(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Patch(path, l.chain(handlers)...))
}

func (l limitedRouter) Add(method, path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.Add(method, path, l.chain(handlers)...))
}

func (l limitedRouter) All(path string, handlers ...fiber.Handler) fiber.Router {
	return l.with(l.r.All(path, l.chain(handlers)...))
}

// Static serves files, which take no handlers: the limit is middleware on
// its prefix.
func (l limitedRouter) Static(prefix, root string, config ...fiber.Static) fiber.Router {
	l.r.Use(prefix, l.limit)
	return l.with(l.r.Static(prefix, root, config...))
}

// Group's own handlers are middleware on its prefix; its routes are added
// through the returned router.
func (l limitedRouter) Group(prefix string, handlers ...fiber.Handler) fiber.Router {
	if len(handlers) > 0 {
		handlers = l.chain(handlers)
	}
	return l.with(l.r.Group(prefix, handlers...))
}

func (l limitedRouter) Route(prefix string, fn func(router fiber.Router), name ...string) fiber.Router {
	return l.with(l.r.Route(prefix, func(r fiber.Router) { fn(l.with(r)) }, name...))
}

// Mount serves another app under prefix: the limit is middleware on it.
func (l limitedRouter) Mount(prefix string, app *fiber.App) fiber.Router {
	l.r.Use(prefix, l.limit)
	return l.with(l.r.Mount(prefix, app))
}

func (l limitedRouter) Name(name string) fiber.Router { return l.with(l.r.Name(name)) }
