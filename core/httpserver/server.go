// Package httpserver runs Fiber under the fx lifecycle.
//
// The listener is bound in OnStart, so a port that is taken fails the start
// with a clear error instead of a log line from a goroutine. Routes come
// from the "http.routes" value group: modules contribute them and nothing
// here lists them. Every server also serves /healthz, /readyz and /metrics.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/metrics"
)

// Routes is what a module contributes: it registers its handlers on the
// app's root router (full paths, e.g. "/api/v1/users").
type Routes interface {
	RegisterRoutes(r fiber.Router)
}

// RoutesFunc adapts a function to Routes.
type RoutesFunc func(r fiber.Router)

// RegisterRoutes calls f.
func (f RoutesFunc) RegisterRoutes(r fiber.Router) { f(r) }

// AsRoutes annotates a constructor returning Routes so its result joins
// the "http.routes" value group.
func AsRoutes(constructor any) any {
	return fx.Annotate(constructor, fx.As(new(Routes)), fx.ResultTags(`group:"http.routes"`))
}

// Server is a Fiber app bound to one address.
type Server struct {
	app  *fiber.App
	cfg  Config
	log  *slog.Logger
	addr net.Addr
}

// New builds the server: middleware, the system routes, then routes.
// name labels its metrics ("api", "worker-admin").
func New(name string, cfg Config, log *slog.Logger, reg prometheus.Registerer, gatherer prometheus.Gatherer,
	checks *health.Registry, routes []Routes) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("httpserver: %w", err)
	}
	log = log.With("component", "http", "server", name)
	m, err := newHTTPMetrics(reg, name)
	if err != nil {
		return nil, err
	}
	onError := errorHandler(log)
	app := fiber.New(fiber.Config{
		AppName: "tipbox",
		// Immutable: strings from the request (method, headers, params) are
		// copies. Without it they alias fasthttp's reused buffers, and any
		// that outlive the request — a metric label, a cache key, a
		// remembered token — silently change under the next request.
		Immutable:               true,
		DisableStartupMessage:   true,
		BodyLimit:               cfg.BodyLimit,
		ReadTimeout:             cfg.ReadTimeout,
		WriteTimeout:            cfg.WriteTimeout,
		IdleTimeout:             cfg.IdleTimeout,
		ErrorHandler:            onError,
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.TrustedProxies,
	})
	app.Use(m.handler(onError), requestID(), recoverer(log))
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		report, ok := checks.Report(c.UserContext())
		if !ok {
			c.Status(fiber.StatusServiceUnavailable)
		}
		return c.JSON(report)
	})
	app.Get("/metrics", metrics.Handler(gatherer))
	for _, r := range routes {
		r.RegisterRoutes(app)
	}
	app.Use(func(c *fiber.Ctx) error {
		return Error(fiber.StatusNotFound, "not_found", "no route for "+c.Method()+" "+c.Path())
	})
	return &Server{app: app, cfg: cfg, log: log}, nil
}

// App exposes the Fiber app (for app.Test in tests).
func (s *Server) App() *fiber.App { return s.app }

// Addr is the bound address once Start returned.
func (s *Server) Addr() net.Addr { return s.addr }

// Start binds the listener synchronously and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http: cannot listen on %s: %w", s.cfg.Addr, err)
	}
	s.addr = ln.Addr()
	go func() {
		if err := s.app.Listener(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	s.log.Info("http server listening", "addr", s.addr.String())
	return nil
}

// Stop stops accepting connections and waits for requests in flight, up to
// ctx's deadline.
func (s *Server) Stop(ctx context.Context) error {
	err := s.app.ShutdownWithContext(ctx)
	s.log.Info("http server stopped")
	return err
}

type params struct {
	fx.In
	Config   Config
	Log      *slog.Logger
	Reg      prometheus.Registerer
	Gatherer prometheus.Gatherer
	Checks   *health.Registry
	Routes   []Routes `group:"http.routes"`
	LC       fx.Lifecycle
}

// Run builds the API server and ties it to the lifecycle.
func Run(p params) (*Server, error) {
	s, err := New("api", p.Config, p.Log, p.Reg, p.Gatherer, p.Checks, p.Routes)
	if err != nil {
		return nil, err
	}
	p.LC.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}

// Module provides the API *Server from the `http` section and invokes it.
// Put it last in the app's options: invoked last, it starts last (after
// every dependency is up) and stops first (before workers, queues, cache).
var Module = fx.Module("http",
	config.Provide[Config]("http"),
	fx.Provide(Run),
	fx.Invoke(func(*Server) {}),
)
