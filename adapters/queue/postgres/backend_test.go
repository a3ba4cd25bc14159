package postgres

import (
	"testing"
	"time"

	pgdb "github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/queue/postgres/migrations"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/internal/testenv"
)

var schema = database.Migrations{Module: "queue_postgres", FS: migrations.FS}

// openDB returns a fresh database of the test's own with the driver's
// schema; it is dropped when the test ends.
func openDB(t testing.TB) *database.DB {
	t.Helper()
	return dbtest.Open(t, "postgres", schema)
}

// openDSN creates a fresh database with the driver's schema and returns
// its DSN, for tests that open several pools on it (several processes).
func openDSN(t testing.TB) string {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	db := openPool(t, dsn)
	if err := database.Migrate(t.Context(), db, []database.Migrations{schema}, queuetest.Logger()); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// openPool opens a pool on dsn, closed when the test ends.
func openPool(t testing.TB, dsn string) *database.DB {
	t.Helper()
	db, err := pgdb.Open(t.Context(), database.Config{DSN: dsn}, queuetest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openBackend(t testing.TB, db *database.DB, cfg queue.Config, obs queue.Observer) *Backend {
	t.Helper()
	b, err := New(db.DB, cfg, obs, queuetest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// openClient opens a backend for cfg on a fresh database and a client of
// it.
func openClient(t testing.TB, cfg queue.Config) (*Backend, *queue.Client) {
	t.Helper()
	b := openBackend(t, openDB(t), cfg, nil)
	client, err := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, client
}

func TestSemantics(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Harness{
		NewBackend: func(t *testing.T, cfg queue.Config) queue.Backend {
			return openBackend(t, openDB(t), cfg, nil)
		},
		// Every claim and settlement is a round trip or more to the
		// database (one in-memory script for redis): the group test's
		// 10,000 jobs at group concurrency 3 need seconds on a loaded
		// 2-core machine (docs/decisions/0013-postgres-queue.md).
		Slow: 6,
	})
}

func TestDeadLetterRetention(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.Retention.Failed = 3
	obs := &queuetest.DropCounter{}
	b := openBackend(t, openDB(t), cfg, obs)
	client, _ := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	e := &queuetest.Env{T: t, Cfg: cfg, Backend: b, Client: client, Admin: queue.NewAdmin(cfg, b)}
	queuetest.DeadLetterRetention(t, e, obs, func() {
		later := b.now().Add(cfg.Retention.FailedAge + time.Minute)
		for _, q := range cfg.Queues {
			if err := b.expireAt(t.Context(), q, later); err != nil {
				t.Fatal(err)
			}
		}
	})
}
