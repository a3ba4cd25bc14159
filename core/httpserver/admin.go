package httpserver

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/health"
)

// AdminParams are what NewAdminServer needs; Addr comes from the caller's config
// (worker.admin_addr), the rest from the kernel.
type AdminParams struct {
	fx.In
	Log      *slog.Logger
	Reg      prometheus.Registerer
	Gatherer prometheus.Gatherer
	Checks   *health.Registry
	LC       fx.Lifecycle
}

// NewAdminServer builds a server with only the system routes (/healthz, /readyz,
// /metrics) and net/http/pprof under /debug/pprof/ on addr, and ties it to
// the lifecycle. cmd/worker uses it: a worker serves no API, but must be
// probed, scraped and profiled. cmd/api runs one on http.admin_addr.
func NewAdminServer(addr string, p AdminParams) (*Server, error) {
	s, err := newAdminServer("worker-admin", addr, p.Log, p.Reg, p.Gatherer, p.Checks, p.LC)
	if err != nil {
		return nil, fmt.Errorf("worker.admin_addr: %w", err)
	}
	return s, nil
}

func newAdminServer(name, addr string, log *slog.Logger, reg prometheus.Registerer, gatherer prometheus.Gatherer,
	checks *health.Registry, lc fx.Lifecycle) (*Server, error) {
	// No rate limit (operators' tools only), and a write timeout long
	// enough for a 30 s CPU profile.
	cfg := Config{Addr: addr, WriteTimeout: 2 * time.Minute, RateLimit: RateLimitConfig{RPS: ptr(0)}}
	s, err := New(name, cfg, log, reg, gatherer, checks, nil, withPprof())
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}
