package postgres

import (
	"context"
	"database/sql"
	"errors"
	"hash/fnv"

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
