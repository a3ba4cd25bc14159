// Package postgres is the PostgreSQL database adapter: pgx v5 through
// database/sql (github.com/jackc/pgx/v5/stdlib), registered as database
// driver "postgres". The DSN is anything pgx.ParseConfig accepts (URL or
// key=value), e.g. DATABASE_URL.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/database"
)

// Name is the driver name selected by database.driver.
const Name = "postgres"

// Pool defaults, overridden by the database.max_* settings. database/sql
// leaves open connections unlimited, which lets a burst exhaust the
// server's max_connections (100 by default) across a few instances.
const (
	defaultMaxOpenConns    = 10
	defaultConnMaxIdleTime = 5 * time.Minute
)

// Module registers the postgres driver with the database module.
var Module = fx.Module("database.postgres", database.AsDriver(NewDriver))

// NewDriver returns the postgres database.Driver.
func NewDriver() database.Driver {
	return database.Driver{Name: Name, Open: Open}
}

// Open parses cfg.DSN and opens a pool. It does not connect; the first
// query (or Ping) does.
func Open(_ context.Context, cfg database.Config, log *slog.Logger) (*database.DB, error) {
	conf, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx redacts the password in its message.
		return nil, fmt.Errorf("dsn: %w", err)
	}
	db := stdlib.OpenDB(*conf)
	db.SetMaxOpenConns(defaultMaxOpenConns)
	db.SetMaxIdleConns(defaultMaxOpenConns)
	db.SetConnMaxIdleTime(defaultConnMaxIdleTime)
	cfg.ApplyPool(db)
	log.Info("database opened", "driver", Name, "host", conf.Host, "database", conf.Database)
	return &database.DB{DB: db, Dialect: Dialect{}}, nil
}
