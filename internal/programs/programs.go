// Package programs holds the option sets of cmd/api and cmd/worker, so
// tests and tools can build the same applications the programs run.
package programs

import (
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters"
	"github.com/tipbox/tipbox/core/app"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/dashboard"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/modules"
	"github.com/tipbox/tipbox/modules/gamification"
)

// API is the option set of cmd/api for the profile src: with
// worker.embedded it runs the queue workers too. The HTTP server comes
// last so it starts last and stops first.
func API(src *config.Source) ([]fx.Option, error) {
	var w app.WorkerConfig
	if err := src.Decode("worker", &w); err != nil {
		return nil, err
	}
	opts := []fx.Option{app.WorkerModule, adapters.All, modules.API}
	if w.RunsEmbedded() {
		opts = append(opts, modules.Handlers, queue.WorkerModule)
	}
	return append(opts, realtime.HubModule, queue.StreamsModule, dashboard.Module, httpserver.Module), nil
}

// Worker is the option set of cmd/worker: the queue workers and the admin
// server (last). It refuses a queue driver that cannot be shared between
// processes. It reads the same profiles as the API, so it registers every
// section the API does.
func Worker() []fx.Option {
	return []fx.Option{
		app.WorkerModule,
		adapters.All,
		fx.Invoke(queue.RequireShared),
		modules.Worker,
		queue.WorkerModule,
		// Sections of packages the worker does not run, so that it accepts
		// the profiles it shares with the API.
		config.Register[httpserver.Config]("http"),
		config.Register[gamification.Config]("gamification"),
		fx.Invoke(func(w app.WorkerConfig, p httpserver.AdminParams) error {
			_, err := httpserver.RunAdmin(w.AdminAddr, p)
			return err
		}),
	}
}
