package analytics_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/analytics"
	"github.com/tipbox/tipbox/modules/analytics/migrations"
)

// BenchmarkHandleBatch counts batches of 1000 new events (the default
// analytics.batch_size), two event names over two days, on each database.
// ns/op is per batch.
func BenchmarkHandleBatch(b *testing.B) {
	for _, backend := range dbtest.Backends {
		b.Run(backend, func(b *testing.B) {
			store := analytics.NewStore(dbtest.Open(b, backend, database.Migrations{Module: "analytics", FS: migrations.FS}))
			agg := analytics.NewAggregator(store, 1000, time.Millisecond, slog.New(slog.DiscardHandler))
			day := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
			n := 0
			for b.Loop() {
				jobs := make([]*queue.Job, 1000)
				for i := range jobs {
					n++
					jobs[i] = event(b, fmt.Sprintf("job-%d", n), []string{"user_login", "post_created"}[i%2],
						day.Add(time.Duration(i%2)*time.Hour))
				}
				for _, err := range agg.HandleBatch(b.Context(), jobs) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
