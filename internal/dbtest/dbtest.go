// Package dbtest opens fresh, migrated databases of every supported kind
// for repository tests: a temp SQLite file, and a PostgreSQL database of
// the test's own (testenv.PostgresDSN). Use Each to run one contract
// against both.
package dbtest

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/internal/testenv"
)

// Backends are the database drivers a contract runs against.
var Backends = []string{"sqlite", "postgres"}

// Open returns a fresh database of the backend with the migration sets
// applied; it is closed (and, for postgres, dropped) when the test ends.
func Open(t testing.TB, backend string, sets ...database.Migrations) *database.DB {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var db *database.DB
	var err error
	switch backend {
	case "sqlite":
		db, err = sqlite.Open(t.Context(), database.Config{DSN: "file:" + filepath.Join(t.TempDir(), "test.db")}, log)
	case "postgres":
		db, err = postgres.Open(t.Context(), database.Config{DSN: testenv.PostgresDSN(t)}, log)
	default:
		t.Fatalf("dbtest: unknown backend %q", backend)
	}
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", backend, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := database.Migrate(t.Context(), db, sets, log); err != nil {
		t.Fatalf("dbtest: migrate: %v", err)
	}
	return db
}

// Each runs fn as a parallel subtest per backend, named after it.
func Each(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}
