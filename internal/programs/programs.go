// Package programs holds the option sets of cmd/api and cmd/worker, so
// tests and tools can build the same applications the programs run.
package programs

import (
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/modules"
)

// API is the option set of cmd/api. The HTTP server is invoked last so it
// starts last and stops first.
func API() []fx.Option {
	return []fx.Option{
		app.WorkerModule,
		adapters.All,
		modules.API,
		httpserver.Module,
	}
}

// Worker is the option set of cmd/worker, its admin server last. It
// reads the same profiles as the API, so it registers the http section too
// (unused here) to accept them.
func Worker() []fx.Option {
	return []fx.Option{
		app.WorkerModule,
		adapters.All,
		modules.Worker,
		config.Provide[httpserver.Config]("http"),
		fx.Invoke(func(w app.WorkerConfig, p httpserver.AdminParams) error {
			_, err := httpserver.RunAdmin(w.AdminAddr, p)
			return err
		}),
	}
}
