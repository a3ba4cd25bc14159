package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// DB is an open database: the standard pool plus the dialect it speaks.
// It is safe for concurrent use, as *sql.DB is.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// Dialect is what portable code needs to know about the SQL a driver speaks.
// Implementations are stateless and safe for concurrent use.
type Dialect interface {
	// Name is the dialect's name, also the migrations directory name:
	// "sqlite" or "postgres".
	Name() string
	// IsUniqueViolation reports whether err (possibly wrapped) is a unique
	// constraint violation and, if so, names what was violated: the
	// constraint name on postgres, the "table.column" list on sqlite. Stores
	// tell one unique key from another by a substring of it.
	IsUniqueViolation(err error) (constraint string, ok bool)
	// ForUpdate is the suffix that row-locks a SELECT inside a transaction
	// (" FOR UPDATE" on postgres). It may be empty when the dialect's write
	// transactions already exclude each other (sqlite's BEGIN IMMEDIATE).
	ForUpdate() string
	// LockTx takes an exclusive lock named key that is held until tx ends,
	// serialising every transaction, in any process, that takes the same
	// key (postgres: pg_advisory_xact_lock). Migrate uses it.
	LockTx(ctx context.Context, tx *sql.Tx, key string) error
}

// InTx runs fn inside a transaction: committed when fn returns nil, rolled
// back when it returns an error (returned unchanged) or panics (the panic
// continues). fn must use tx, not db: on a pool of one connection a query on
// db would wait for the connection the transaction holds.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("database: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			// The error of a rollback after a failed fn says nothing new;
			// the transaction is gone either way.
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		committed = true // Commit ends the transaction even when it fails.
		return fmt.Errorf("database: commit: %w", err)
	}
	committed = true
	return nil
}

// ErrUnknownDriver is returned by Open for a driver name no adapter registered.
var ErrUnknownDriver = errors.New("database: unknown driver")

// Warmer is implemented by a Dialect that can ready a new connection for
// the application's statements. PostgreSQL loads a backend's catalog
// entries (tables, their indexes) on first use: measured end to end, the
// first statements of connections opened when traffic stepped up took
// 20–47 ms to parse on a busy machine, while a warm backend parses the
// same statement in a fraction of a millisecond.
type Warmer interface {
	WarmConn(ctx context.Context, c *sql.Conn) error
}

// Warm opens up to n connections of the pool at once (never more than its
// limit), readies each through the dialect when it is a Warmer, and gives
// them back to the pool, where they stay idle for the next statements. It
// returns how many it opened. Connections beyond the pool's idle limit are
// closed when given back, so n should not exceed it.
func (db *DB) Warm(ctx context.Context, n int) (int, error) {
	if limit := db.Stats().MaxOpenConnections; limit > 0 && n > limit {
		n = limit
	}
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	w, _ := db.Dialect.(Warmer)
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return len(conns), fmt.Errorf("database: warm connection %d of %d: %w", len(conns)+1, n, err)
		}
		conns = append(conns, c)
		if w == nil {
			continue
		}
		if err := w.WarmConn(ctx, c); err != nil {
			return len(conns), fmt.Errorf("database: warm connection %d of %d: %w", len(conns), n, err)
		}
	}
	return len(conns), nil
}
