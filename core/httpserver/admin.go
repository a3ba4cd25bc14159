package httpserver

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/health"
)

// AdminParams are what RunAdmin needs; Addr comes from the caller's config
// (worker.admin_addr), the rest from the kernel.
type AdminParams struct {
	fx.In
	Log      *slog.Logger
	Reg      prometheus.Registerer
	Gatherer prometheus.Gatherer
	Checks   *health.Registry
	LC       fx.Lifecycle
}

// RunAdmin builds a server with only the system routes (/healthz, /readyz,
// /metrics) on addr and ties it to the lifecycle. cmd/worker uses it: a
// worker serves no API, but must be probed and scraped.
func RunAdmin(addr string, p AdminParams) (*Server, error) {
	cfg := Config{Addr: addr}
	cfg.SetDefaults()
	s, err := New("worker-admin", cfg, p.Log, p.Reg, p.Gatherer, p.Checks, nil)
	if err != nil {
		return nil, fmt.Errorf("worker.admin_addr: %w", err)
	}
	p.LC.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}
