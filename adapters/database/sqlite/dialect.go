package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is SQLite's database.Dialect.
type Dialect struct{}

// Name implements database.Dialect.
func (Dialect) Name() string { return "sqlite" }

// ForUpdate is empty: SQLite has no row locks, and every read-write
// transaction of this adapter already holds the database's write lock
// (BEGIN IMMEDIATE), so a SELECT in it cannot interleave with another writer.
func (Dialect) ForUpdate() string { return "" }

// LockTx does nothing beyond what tx holds: the write lock taken by BEGIN
// IMMEDIATE already serialises all read-write transactions on the file,
// across processes.
func (Dialect) LockTx(context.Context, *sql.Tx, string) error { return nil }

const uniqueFailed = "UNIQUE constraint failed: "

// IsUniqueViolation reports a UNIQUE or PRIMARY KEY violation; constraint is
// SQLite's description, e.g. "users.username_key" or "index 'users_lower'".
func (Dialect) IsUniqueViolation(err error) (string, bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		return "", false
	}
	msg := e.Error()
	i := strings.Index(msg, uniqueFailed)
	if i < 0 {
		return "", false
	}
	constraint := msg[i+len(uniqueFailed):]
	if j := strings.LastIndex(constraint, " ("); j >= 0 { // trailing " (2067)"
		constraint = constraint[:j]
	}
	return constraint, true
}
