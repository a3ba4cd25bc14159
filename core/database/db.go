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
