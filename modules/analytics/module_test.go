package analytics

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/analytics/migrations"
)

// Every handler of the analytics queue takes batches (so the worker
// claims events many at a time), and the prune job forgets counted ids:
// an id counted before the prune is counted again after it.
func TestPruneIsABatchOfOne(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := NewStore(dbtest.Open(t, backend, database.Migrations{Module: "analytics", FS: migrations.FS}))
		log := slog.New(slog.DiscardHandler)
		agg := NewAggregator(store, 10, time.Millisecond, log)
		prune := pruneHandler(store, Config{DedupWindow: -time.Hour}, log) // everything is past the window
		for _, h := range []queue.Handler{agg.QueueHandler(), prune} {
			if h.Queue != Queue || h.Batch == nil {
				t.Fatalf("handler %s/%s does not take batches", h.Queue, h.Name)
			}
		}
		ctx := t.Context()
		job := event(t, "job-1")
		count := func() int64 {
			for _, err := range agg.HandleBatch(ctx, []*queue.Job{job}) {
				if err != nil {
					t.Fatal(err)
				}
			}
			c, err := store.Counts(ctx, "user_login", "2026-11-26", "2026-11-26")
			if err != nil || len(c) != 1 {
				t.Fatalf("counts %v, %v", c, err)
			}
			return c[0].Count
		}
		if n := count(); n != 1 {
			t.Fatalf("count %d", n)
		}
		if n := count(); n != 1 {
			t.Fatalf("a redelivery before the prune counted: %d", n)
		}
		if errs := prune.Batch.Handle(ctx, []*queue.Job{{ID: "prune-1", Name: PruneJob}}); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("prune: %v", errs)
		}
		if n := count(); n != 2 {
			t.Fatalf("after the prune the id was not forgotten: count %d", n)
		}
	})
}

func event(t *testing.T, id string) *queue.Job {
	t.Helper()
	return &queue.Job{ID: id, Queue: Queue, Name: JobName,
		Payload: []byte(`{"event":"user_login","userId":1,"at":"2026-11-26T12:00:00Z"}`)}
}
