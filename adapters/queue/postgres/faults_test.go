package postgres

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// A worker process dies mid-job (its pool is cut off from the database:
// no heartbeat, no settlement): another process takes the job back after
// the lease and runs it as the next attempt.
func TestWorkerKilledMidJob(t *testing.T) {
	t.Parallel()
	dsn := openDSN(t)
	cfg := queuetest.Config()
	ctx := context.Background()

	doomedDB := openPool(t, dsn)
	doomed := openBackend(t, doomedDB, cfg, nil)
	started := make(chan struct{}, 1)
	e1 := &queuetest.Env{T: t, Cfg: cfg, Backend: doomed}
	e1.StartWorker(queue.Handler{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		started <- struct{}{}
		<-ctx.Done() // never finishes on its own
		return ctx.Err()
	}})
	client, err := queue.NewClient(cfg, doomed, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := client.Enqueue(ctx, "jobs", "work", nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("job not started")
	}
	// The process dies: its connections go, and it cannot reconnect.
	terminate(t, openPool(t, dsn))
	_ = doomedDB.Close()

	survivor := openBackend(t, openPool(t, dsn), cfg, nil)
	var ran atomic.Int64
	e2 := &queuetest.Env{T: t, Cfg: cfg, Backend: survivor}
	e2.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		if j.Attempt == 2 {
			ran.Add(1)
		}
		return nil
	}})
	testenv.Eventually(t, 20*time.Second, func() bool { return ran.Load() == 1 }, "job not taken back after the lease")
	testenv.Eventually(t, 5*time.Second, func() bool {
		j, err := survivor.Job(ctx, "jobs", id)
		return err == nil && j.State == queue.StateCompleted && j.Stalls == 1 && j.AttemptsMade() == 2
	}, "job not completed as a second attempt")
}

// Every connection of the process is terminated by the server while a
// worker runs: the listener and the pool reconnect, and jobs enqueued
// afterwards run (the wake-up included).
func TestConnectionLoss(t *testing.T) {
	t.Parallel()
	dsn := openDSN(t)
	cfg := queuetest.Config()
	ctx := context.Background()
	b := openBackend(t, openPool(t, dsn), cfg, nil)
	var ran atomic.Int64
	e := &queuetest.Env{T: t, Cfg: cfg, Backend: b}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error {
		ran.Add(1)
		return nil
	}})
	client, err := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(ctx, "jobs", "before", nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return ran.Load() == 1 }, "first job not run")
	admin := openPool(t, dsn)
	for round := 0; round < 3; round++ {
		if n := terminate(t, admin); n == 0 {
			t.Fatal("no connection to terminate")
		}
		testenv.Eventually(t, 10*time.Second, func() bool {
			_, err := client.Enqueue(ctx, "jobs", "after", round)
			return err == nil
		}, "enqueue does not recover")
		want := int64(round + 2)
		testenv.Eventually(t, 10*time.Second, func() bool { return ran.Load() >= want }, "worker does not recover (round %d)", round)
	}
}

// terminate ends every connection to admin's database except its own
// and returns how many it ended.
func terminate(t *testing.T, admin interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) int {
	t.Helper()
	var n int
	err := admin.QueryRowContext(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
