// Package sqlite is the embedded database adapter: modernc.org/sqlite, pure
// Go, registered as database driver "sqlite".
//
// Concurrency: the pool holds several connections so readers run in
// parallel (WAL); writers take the file's single write lock at BEGIN
// (_txlock=immediate) or statement start. The writers of one pool queue for
// it in Go first (writeGate, gate.go); against other processes on the file
// they wait up to busy_timeout (5 s by default) inside SQLite, so
// concurrent writers queue instead of failing with SQLITE_BUSY. No commit
// checkpoints the WAL: the pool's checkpointer does, on a connection of
// its own (checkpoint.go). Since every read-write transaction takes the write lock at
// BEGIN, a transaction that only reads should be begun with
// sql.TxOptions{ReadOnly: true} (a plain BEGIN) so it does not queue behind
// writers; a single query needs no transaction at all.
//
// An in-memory DSN gets a pool of one connection, since every connection
// would otherwise open its own empty database.
package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"runtime"

	"go.uber.org/fx"
	"modernc.org/sqlite"

	"github.com/tipbox/tipbox/core/database"
)

// Name is the driver name selected by database.driver.
const Name = "sqlite"

// Module registers the sqlite driver with the database module.
var Module = fx.Module("database.sqlite", database.AsDriver(NewDriver))

// NewDriver returns the sqlite database.Driver.
func NewDriver() database.Driver {
	return database.Driver{Name: Name, Open: Open}
}

// Open opens cfg.DSN after adding the default pragmas and creating the
// file's directory. It does not connect; the first query (or Ping) does.
func Open(_ context.Context, cfg database.Config, log *slog.Logger) (*database.DB, error) {
	info, err := parseDSN(cfg.DSN)
	if err != nil {
		return nil, err
	}
	if info.path != "" {
		if err := ensureDir(info.path); err != nil {
			return nil, err
		}
	}
	conn := connector{dsn: info.dsn, drv: &sqlite.Driver{}, gate: &writeGate{wait: gateWait}}
	if info.checkpointer {
		conn.ckpt = newCheckpointer(conn.open, conn.gate, log)
	}
	db := sql.OpenDB(conn)
	conns := max(4, runtime.NumCPU())
	if info.memory {
		conns = 1
	}
	db.SetMaxOpenConns(conns)
	// Keep every connection: a new one re-runs the pragmas and re-reads the
	// schema.
	db.SetMaxIdleConns(conns)
	cfg.ApplyPool(db)
	if info.memory && cfg.MaxOpenConns > 1 {
		db.SetMaxOpenConns(1)
		log.Warn("database: in-memory sqlite limited to one connection", "max_open_conns", cfg.MaxOpenConns)
	}
	log.Info("database opened", "driver", Name, "path", info.path, "memory", info.memory)
	return &database.DB{DB: db, Dialect: Dialect{}}, nil
}
