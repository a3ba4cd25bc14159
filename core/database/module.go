package database

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/health"
)

// Module provides the *DB selected by the "database" config section from
// the drivers in group "database.drivers" (install at least one adapter
// module, e.g. adapters/database/sqlite.Module). On start it pings the
// database and, unless database.auto_migrate is false, applies the
// migrations of group "database.migrations"; on stop it closes the pool. It
// contributes the critical readiness check "database".
var Module = fx.Module("database",
	config.Provide[Config]("database"),
	fx.Provide(newFx),
	health.AsChecker(newChecker),
)

type fxParams struct {
	fx.In
	LC         fx.Lifecycle
	Config     Config
	Log        *slog.Logger
	Drivers    []Driver     `group:"database.drivers"`
	Migrations []Migrations `group:"database.migrations"`
}

func newFx(p fxParams) (*DB, error) {
	// Opening does not connect (the drivers are lazy), so the constructor
	// needs no deadline; connecting happens in OnStart under fx's.
	db, err := Open(context.Background(), p.Config, p.Drivers, p.Log)
	if err != nil {
		return nil, err
	}
	p.LC.Append(fx.Hook{
		// fx runs no OnStop for a hook whose OnStart failed: close there.
		OnStart: func(ctx context.Context) (err error) {
			defer func() {
				if err != nil {
					_ = db.Close()
				}
			}()
			if err := db.PingContext(ctx); err != nil {
				p.Log.Error("database unreachable", "driver", p.Config.Driver, "err", err)
				return fmt.Errorf("database: ping %s: %w", p.Config.Driver, err)
			}
			if !p.Config.MigrateOnStart() {
				p.Log.Info("database ready; migrations skipped (database.auto_migrate: false)", "driver", p.Config.Driver)
			} else {
				if err := Migrate(ctx, db, p.Migrations, p.Log); err != nil {
					p.Log.Error("database migration failed", "err", err)
					return err
				}
				p.Log.Info("database ready", "driver", p.Config.Driver, "migration_sets", len(p.Migrations))
			}
			if p.Config.WarmConns > 0 {
				// A failed warm-up costs only speed: the pool opens what it
				// needs later, as it would without it.
				start := time.Now()
				n, err := db.Warm(ctx, p.Config.WarmConns)
				if err != nil {
					p.Log.Warn("database connections not all warmed", "warmed", n, "err", err)
				} else {
					p.Log.Info("database connections warmed", "conns", n, "took", time.Since(start))
				}
			}
			return nil
		},
		OnStop: func(context.Context) error {
			p.Log.Info("database closing", "driver", p.Config.Driver)
			return db.Close()
		},
	})
	return db, nil
}

func newChecker(db *DB) health.Checker {
	return health.Checker{Name: "database", Critical: true, Check: db.PingContext}
}
