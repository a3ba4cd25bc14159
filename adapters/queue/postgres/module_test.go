package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	pgdb "github.com/tipbox/tipbox/adapters/database/postgres"
	"github.com/tipbox/tipbox/adapters/queue/postgres"
	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/config"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// TestModules boots the producer and worker on queue.driver postgres over
// database.driver postgres, the way the programs do: the driver's schema
// is migrated with the application's, and a job enqueued in a
// transaction runs once it commits.
func TestModules(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	src, err := config.Parse("test.yaml", []byte(fmt.Sprintf(
		"database:\n  driver: postgres\n  dsn: %q\nqueue:\n  driver: postgres\n  queues: [jobs]\n  shutdown_timeout: 2s\n", dsn)), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int64
	var txe queue.TxEnqueuer
	var db *database.DB
	var driver queue.Driver
	app := fxtest.New(t,
		fx.NopLogger,
		config.Module(src),
		fx.Supply(slog.New(slog.NewTextHandler(io.Discard, nil)), v),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		database.Module, pgdb.Module,
		queue.Module, queue.WorkerModule, postgres.Module,
		queue.AsHandler(func() queue.Handler {
			return queue.Handler{Queue: "jobs", Name: "ping", Handle: func(context.Context, *queue.Job) error {
				ran.Add(1)
				return nil
			}}
		}),
		fx.Populate(&txe, &db, &driver),
	)
	app.RequireStart()
	defer app.RequireStop()
	if err := queue.RequireShared(driver); err != nil {
		t.Fatal(err)
	}
	err = db.InTx(context.Background(), func(tx *sql.Tx) error {
		_, err := txe.EnqueueTx(context.Background(), tx, "jobs", "ping", nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return ran.Load() == 1 }, "handler did not run")
}
