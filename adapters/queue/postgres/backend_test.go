package postgres

import (
	"testing"

	"github.com/tipbox/tipbox/adapters/queue/postgres/migrations"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/dbtest"
)

// openDB returns a fresh database of the test's own with the driver's
// schema; it is dropped when the test ends.
func openDB(t testing.TB) *database.DB {
	t.Helper()
	return dbtest.Open(t, "postgres", database.Migrations{Module: "queue_postgres", FS: migrations.FS})
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

func TestSemantics(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, queuetest.Harness{
		NewBackend: func(t *testing.T, cfg queue.Config) queue.Backend {
			return openBackend(t, openDB(t), cfg, nil)
		},
		// Every claim and settlement is a few round trips to the
		// database (one in-memory script for redis); the group
		// round-robin claims a member at a time.
		Slow: 6,
	})
}
