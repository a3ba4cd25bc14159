package postgres

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/queue/memory"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// A job enqueued inside the caller's transaction exists exactly when the
// transaction commits: a rollback leaves nothing (no job, no event, no
// wake-up that finds work), a commit makes it run.
func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	cfg := queuetest.Config()
	b := openBackend(t, db, cfg, nil)
	client, err := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int64
	e := &queuetest.Env{T: t, Cfg: cfg, Backend: b}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		ran.Add(1)
		return nil
	}})
	order := func(id string, commit bool) string {
		t.Helper()
		var jobID string
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES ($1)`, id); err != nil {
				return err
			}
			var err error
			if jobID, err = client.EnqueueTx(ctx, tx, "jobs", "order.placed", map[string]string{"order": id}); err != nil {
				return err
			}
			// Inside the transaction the job is not visible to workers.
			if j, err := b.Job(ctx, "jobs", jobID); !errors.Is(err, queue.ErrJobNotFound) {
				t.Errorf("job visible before commit: %+v %v", j, err)
			}
			if !commit {
				return errors.New("rolled back")
			}
			return nil
		})
		if commit != (err == nil) {
			t.Fatalf("order %s: %v", id, err)
		}
		return jobID
	}

	rolled := order("o-1", false)
	time.Sleep(300 * time.Millisecond) // a negative check needs a window: the worker must find nothing in it
	if _, err := b.Job(ctx, "jobs", rolled); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("rolled-back job exists: %v", err)
	}
	if s, _ := b.Stats(ctx, "jobs"); ran.Load() != 0 || s.Waiting+s.Active+s.Completed != 0 {
		t.Fatalf("after rollback: ran %d, stats %+v", ran.Load(), s)
	}

	committed := order("o-2", true)
	testenv.Eventually(t, 5*time.Second, func() bool {
		j, err := b.Job(ctx, "jobs", committed)
		return err == nil && j.State == queue.StateCompleted && string(j.Payload) == `{"order":"o-2"}`
	}, "committed job did not complete")
	if ran.Load() != 1 {
		t.Fatalf("ran %d jobs, want 1", ran.Load())
	}
}

// A driver that keeps jobs elsewhere refuses EnqueueTx.
func TestEnqueueTxUnsupported(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	m, err := memory.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client, _ := queue.NewClient(cfg, m, queuetest.Logger(), nil)
	if client.SupportsTx() {
		t.Fatal("memory claims transactional enqueue")
	}
	if _, err := client.EnqueueTx(context.Background(), nil, "jobs", "x", nil); !errors.Is(err, queue.ErrTxUnsupported) {
		t.Fatalf("EnqueueTx on memory: %v", err)
	}
}

// The same caller-chosen ID twice in one batch makes one job.
func TestBulkDuplicateIDs(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	b := openBackend(t, openDB(t), cfg, nil)
	client, _ := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	ids, err := client.EnqueueBulk(context.Background(), "jobs", []queue.NewJob{
		{Name: "x", Payload: 1, Options: []queue.Option{queue.WithJobID("same")}},
		{Name: "x", Payload: 2, Options: []queue.Option{queue.WithJobID("same")}},
	})
	if err != nil || len(ids) != 2 {
		t.Fatal(ids, err)
	}
	j, err := b.Job(context.Background(), "jobs", "same")
	if err != nil || string(j.Payload) != "1" {
		t.Fatalf("job %+v %v", j, err)
	}
}
