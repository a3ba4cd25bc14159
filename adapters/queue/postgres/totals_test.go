package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// A queue's row is created by a backend's listener, in the background: a
// worker that claims and finishes jobs before that (the listener slow on
// a loaded machine) must still count them. Deleting the row stands for
// the listener that has not run yet.
func TestTotalsCountWithoutTheQueueRow(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.Retry.MaxAttempts = 1
	db := openDB(t)
	b := openBackend(t, db, cfg, nil)
	client, err := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &queuetest.Env{T: t, Cfg: cfg, Backend: b, Client: client, Admin: queue.NewAdmin(cfg, b)}
	ctx := context.Background()
	testenv.Eventually(t, 10*time.Second, func() bool {
		var n int
		return db.QueryRowContext(ctx, `SELECT count(*) FROM tipbox_queue.queues WHERE name = 'jobs'`).Scan(&n) == nil && n == 1
	}, "the listener did not create the queue's row")
	if _, err := db.ExecContext(ctx, `DELETE FROM tipbox_queue.queues WHERE name = 'jobs'`); err != nil {
		t.Fatal(err)
	}
	jobs := make([]queue.NewJob, 30)
	for i := range jobs {
		jobs[i] = queue.NewJob{Name: "ok", Payload: i}
	}
	if _, err := client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
		t.Fatal(err)
	}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error { return nil }})
	testenv.Eventually(t, 10*time.Second, func() bool {
		s := e.Stats("jobs")
		return s.Waiting == 0 && s.Active == 0
	}, "jobs not done: %+v", testenv.Later(func() any { return e.Stats("jobs") }))
	if s := e.Stats("jobs"); s.Completed != 30 {
		t.Fatalf("completed %d of 30: %+v", s.Completed, s)
	}
}
