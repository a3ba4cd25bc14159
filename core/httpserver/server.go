// Package httpserver runs Fiber under the fx lifecycle.
//
// The listener is bound in OnStart, so a port that is taken fails the start
// with a clear error instead of a log line from a goroutine. Routes come
// from the "http.endpoints" value group (Endpoints: each route with its
// Access) and, for protocols that authenticate themselves, "http.routes";
// modules contribute them and nothing here lists them. Every server also
// serves /healthz, /readyz and /metrics, and applies the same limits:
// body size after decompression, rate limits per caller, security headers,
// the JSON error format for every error, metrics for every status.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
	"github.com/tipbox/tipbox/core/metrics"
)

// Option adjusts a server built by New.
type Option func(*options)

type options struct {
	verifier  *auth.Verifier
	endpoints []Endpoints
	limiter   RateLimiter
	pprof     bool
}

// WithAuth identifies callers on every request (for rate limits, audit
// lines and Cache-Control: no-store) and puts everything under /api behind
// a valid token unless a route says Public.
func WithAuth(v *auth.Verifier) Option { return func(o *options) { o.verifier = v } }

// WithEndpoints adds modules' routes.
func WithEndpoints(e ...Endpoints) Option {
	return func(o *options) { o.endpoints = append(o.endpoints, e...) }
}

// WithRateLimiter keeps the rate limit counters in l (a shared store)
// instead of in this process. Limits still follow cfg.RateLimit.
func WithRateLimiter(l RateLimiter) Option { return func(o *options) { o.limiter = l } }

// withPprof serves net/http/pprof under /debug/pprof/ (admin servers only).
func withPprof() Option { return func(o *options) { o.pprof = true } }

// Server is a Fiber app bound to one address.
type Server struct {
	app     *fiber.App
	cfg     Config
	log     *slog.Logger
	metrics *httpMetrics
	addr    net.Addr
}

// New builds the server. name labels its metrics ("api", "worker-admin").
// Everything is mounted in one fixed order, whatever order routes come in:
//
//  1. metrics, request id, panic recovery, security headers;
//  2. /healthz, /readyz, /metrics;
//  3. caller identification, body decompression (bounded);
//  4. public Endpoints routes;
//  5. with WithAuth, a guard on /api: rate limit, then a valid token;
//  6. the other Endpoints routes;
//  7. Routes (raw; those that also implement Endpoints are in 4 and 6),
//     each handler chain they register behind the rate limit;
//  8. 404 for the rest.
//
// Each Endpoints route runs, in its own chain: the rate limit per caller,
// its audit line (writes and role-restricted routes), its Access check,
// its handler. The limit is on the route, not on a header the client
// chooses, so nothing a request carries exempts it; a request is counted
// once however many chains it passes (the /api guard, a route).
func New(name string, cfg Config, log *slog.Logger, reg prometheus.Registerer, gatherer prometheus.Gatherer,
	checks *health.Registry, routes []Routes, opts ...Option) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("httpserver: %w", err)
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	auditLog := log.With("component", "audit", "server", name)
	log = log.With("component", "http", "server", name)
	m, err := newHTTPMetrics(reg, name)
	if err != nil {
		return nil, err
	}
	var raw []Routes
	endpoints := slices.Clone(o.endpoints)
	for _, r := range routes {
		if e, ok := r.(Endpoints); ok {
			endpoints = append(endpoints, e)
		} else {
			raw = append(raw, r)
		}
	}
	var public, guarded []Route
	for _, e := range endpoints {
		rs := e.Endpoints()
		if err := checkRoutes(rs); err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Access.IsPublic() {
				public = append(public, r)
			} else {
				guarded = append(guarded, r)
			}
		}
	}
	onError := render(log)
	fcfg := fiber.Config{
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
		ErrorHandler:            m.errorHandler(onError),
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.TrustedProxies,
	}
	if len(cfg.TrustedProxies) > 0 {
		// Only trusted proxies' X-Forwarded-For counts; the first valid
		// address in it is the client.
		fcfg.ProxyHeader, fcfg.EnableIPValidation = fiber.HeaderXForwardedFor, true
	}
	app := fiber.New(fcfg)
	s := &Server{app: app, cfg: cfg, log: log, metrics: m}
	app.Server().Handler = s.knownMethods(app.Server().Handler)

	app.Use(m.handler(onError), requestID(), recoverer(log), securityHeaders())
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		report, ok := checks.Report(c.UserContext())
		if !ok {
			c.Status(fiber.StatusServiceUnavailable)
		}
		return c.JSON(report)
	})
	app.Get("/metrics", metrics.Handler(gatherer))
	if o.pprof {
		app.Use(pprof.New())
	}

	if o.verifier != nil {
		app.Use(o.verifier.Identify())
	}
	var rl *rateLimiter
	var limit fiber.Handler
	if cfg.RateLimit.Enabled() {
		l := o.limiter
		if l == nil {
			l = NewMemoryRateLimiter(*cfg.RateLimit.RPS, *cfg.RateLimit.Burst)
		}
		if rl, err = newRateLimiter(l, cfg.RateLimit, log, reg, name); err != nil {
			return nil, err
		}
		limit = rl.handler(nil)
	}
	app.Use(decompress(cfg.BodyLimit))

	a := &auditor{log: auditLog, render: onError}
	for _, r := range public {
		mountOne(app, r, a, limit)
	}
	if o.verifier != nil {
		// Callers without a valid token are limited here too, by IP.
		guard := []any{"/api"}
		if limit != nil {
			guard = append(guard, limit)
		}
		app.Use(append(guard, o.verifier.SignedIn().Handler())...)
	}
	for _, r := range guarded {
		mountOne(app, r, a, limit)
	}
	for _, r := range raw {
		if rl == nil {
			r.RegisterRoutes(app)
			continue
		}
		rawLimit := limit
		if cr, ok := r.(CallerRoutes); ok {
			rawLimit = rl.handler(cr.RateCaller)
		}
		r.RegisterRoutes(limitedRouter{r: app, limit: rawLimit})
	}
	app.Use(notFound)
	return s, nil
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
	Config    Config
	Source    *config.Source
	Log       *slog.Logger
	Reg       prometheus.Registerer
	Gatherer  prometheus.Gatherer
	Checks    *health.Registry
	Verifier  *auth.Verifier
	Routes    []Routes          `group:"http.routes"`
	Endpoints []Endpoints       `group:"http.endpoints"`
	Drivers   []RateLimitDriver `group:"http.ratelimit.drivers"`
	LC        fx.Lifecycle
}

// newAPIServer builds the API server (and the admin listener when http.admin_addr
// is set) and ties them to the lifecycle.
func newAPIServer(p params) (*Server, error) {
	limiter, store, err := OpenRateLimiter(p.Config.RateLimit, p.Source.Configured("redis"), p.Drivers)
	if err != nil {
		return nil, err
	}
	if c, ok := limiter.(io.Closer); ok {
		p.LC.Append(fx.StopHook(c.Close))
	}
	s, err := New("api", p.Config, p.Log, p.Reg, p.Gatherer, p.Checks, p.Routes,
		WithAuth(p.Verifier), WithEndpoints(p.Endpoints...), WithRateLimiter(limiter))
	if err != nil {
		return nil, err
	}
	p.LC.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	p.Log.Info("http rate limits", "component", "http", "store", store,
		"rps", *p.Config.RateLimit.RPS, "burst", *p.Config.RateLimit.Burst)
	if p.Config.AdminAddr != "" {
		if _, err := newAdminServer("api-admin", p.Config.AdminAddr, p.Log, p.Reg, p.Gatherer, p.Checks, p.LC); err != nil {
			return nil, fmt.Errorf("http.admin_addr: %w", err)
		}
	}
	return s, nil
}

// Module provides the API *Server from the `http` section and invokes it.
// Put it last in the app's options: invoked last, it starts last (after
// every dependency is up) and stops first (before workers, queues, cache).
// It needs an *auth.Verifier (auth.Module).
var Module = fx.Module("http",
	config.Provide[Config]("http"),
	fx.Provide(newAPIServer),
	fx.Invoke(func(*Server) {}),
)
