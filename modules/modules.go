// Package modules bundles the application's modules for the two programs.
package modules

import (
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/modules/analytics"
	"github.com/tipbox/tipbox/modules/gamification"
	"github.com/tipbox/tipbox/modules/notification"
	"github.com/tipbox/tipbox/modules/user"
)

// API is what cmd/api runs: every module's routes, stores and migrations.
var API = fx.Options(
	user.Module,
	gamification.Module,
	notification.Module,
	analytics.Module,
)

// Handlers are the modules' queue handlers, run wherever the queue workers
// run (cmd/worker, or cmd/api when worker.embedded).
var Handlers = fx.Options(
	notification.WorkerModule,
	analytics.WorkerModule,
)

// Worker is what cmd/worker runs: the stores the handlers need (with their
// migrations) and the handlers.
var Worker = fx.Options(
	user.StoreModule,
	notification.Module,
	analytics.Module,
	Handlers,
)
