package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// uniqueViolation is SQLSTATE unique_violation.
const uniqueViolation = "23505"

// Dialect is PostgreSQL's database.Dialect.
type Dialect struct{}

// Name implements database.Dialect.
func (Dialect) Name() string { return "postgres" }

// ForUpdate implements database.Dialect.
func (Dialect) ForUpdate() string { return " FOR UPDATE" }

// LockTx takes a transaction-scoped advisory lock on a 64-bit hash of key;
// PostgreSQL releases it at commit or rollback, also when the session dies.
func (Dialect) LockTx(ctx context.Context, tx *sql.Tx, key string) error {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key)) // hash.Hash writes never fail
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64()))
	return err
}

// IsUniqueViolation reports SQLSTATE 23505; constraint is the violated
// constraint's (or unique index's) name.
func (Dialect) IsUniqueViolation(err error) (string, bool) {
	var e *pgconn.PgError
	if errors.As(err, &e) && e.Code == uniqueViolation {
		return e.ConstraintName, true
	}
	return "", false
}

// WarmConn implements database.Warmer: it plans a read of every table in
// the connection's search path, which loads the backend's catalog entries
// for the tables and their indexes. The statements are sent unprepared
// (pgx's simple protocol), so they take no room in the connection's
// statement cache.
func (Dialect) WarmConn(ctx context.Context, c *sql.Conn) error {
	rows, err := c.QueryContext(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.tables
		WHERE table_schema = ANY (current_schemas(false)) AND table_type = 'BASE TABLE'`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := c.ExecContext(ctx, `EXPLAIN SELECT * FROM `+t, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("warm %s: %w", t, err)
		}
	}
	return nil
}
