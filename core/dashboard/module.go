package dashboard

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
)

type moduleIn struct {
	fx.In
	Admin    *queue.Admin
	Backend  queue.Backend
	Hub      *queue.EventHub
	Verifier *auth.Verifier
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
}

// Module serves the dashboard on the API server. It needs queue.Module,
// auth and metrics (the kernel) and httpserver.Module.
var Module = fx.Module("dashboard",
	httpserver.AsEndpoints(func(in moduleIn) (*Dashboard, error) {
		return New(Deps{Admin: in.Admin, Store: in.Backend, Hub: in.Hub, Verifier: in.Verifier,
			Gatherer: in.Gatherer, Logger: in.Logger})
	}),
)
