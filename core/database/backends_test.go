package database_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/database/sqlite"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/internal/testenv"
)

// backend is a real database the port's tests run against.
type backend struct {
	name   string
	newDSN func(t testing.TB) string // a fresh, empty database
	open   func(context.Context, database.Config, *slog.Logger) (*database.DB, error)
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return "file:" + filepath.Join(t.TempDir(), "test.db") }, sqlite.Open},
	{"postgres", testenv.PostgresDSN, postgres.Open},
}

// forEachBackend runs fn as a parallel subtest per backend, each with a
// fresh database.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b, b.newDSN(t))
		})
	}
}

// connect opens a pool of its own on dsn, closed at cleanup. Two pools on
// one dsn stand for two processes.
func (b backend) connect(t testing.TB, dsn string) *database.DB {
	t.Helper()
	db, err := b.open(context.Background(), database.Config{Driver: b.name, DSN: dsn}, discard())
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
