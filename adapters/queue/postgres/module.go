package postgres

import (
	"fmt"
	"log/slog"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/adapters/queue/postgres/migrations"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
)

// Name is the driver name selected by queue.driver.
const Name = "postgres"

// NewDriver returns the "postgres" driver over the application's database,
// which must be PostgreSQL (database.driver: postgres): the jobs live in
// the same database as the application's tables, so that EnqueueTx can
// join the caller's transaction.
func NewDriver(db *database.DB, logger *slog.Logger) queue.Driver {
	return queue.Driver{Name: Name, Shared: true, Open: func(cfg queue.Config, obs queue.Observer) (queue.Backend, error) {
		if db.Dialect.Name() != "postgres" {
			return nil, fmt.Errorf("queue.driver postgres needs database.driver postgres (it is %s)", db.Dialect.Name())
		}
		return New(db.DB, cfg, obs, logger)
	}}
}

// schemaFor contributes the driver's migrations to the application's when
// queue.driver selects it, so they run with the others at start.
func schemaFor(cfg queue.Config) []database.Migrations {
	if cfg.Driver != Name {
		return nil
	}
	return []database.Migrations{{Module: "queue_postgres", FS: migrations.FS}}
}

// Module registers the driver in "queue.drivers" and, when it is
// selected, its schema in "database.migrations". It needs the database
// module and a *slog.Logger.
var Module = fx.Module("queue.postgres",
	queue.AsDriver(NewDriver),
	fx.Provide(fx.Annotate(schemaFor, fx.ResultTags(`group:"`+database.MigrationsGroup+`,flatten"`))),
)
