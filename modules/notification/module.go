package notification

import (
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/realtime"
	"github.com/tipbox/tipbox/modules/notification/migrations"
)

// Module is the inbox (store, migrations, routes). The API runs it.
var Module = fx.Module("notification",
	database.AsMigrations("notification", migrations.FS),
	fx.Provide(NewStore, httpserver.AsEndpoints(NewHandlers)),
)

// WorkerModule adds the queue handler, pushing through the realtime
// Publisher. Whichever process runs the queue workers includes it.
var WorkerModule = fx.Module("notification.worker",
	fx.Provide(
		NewHandler,
		func(p realtime.Publisher) Pusher { return p },
	),
	queue.AsHandler(func(h *Handler) queue.Handler { return h.QueueHandler() }),
)
