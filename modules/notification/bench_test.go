package notification_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/modules/notification"
)

// BenchmarkHandle64 handles 64 notifications (64 users, email and push
// channels on a queue that only records) on each database: as one batch,
// and one by one at once (as the batch handler ran them before batches
// shared their round trips). ns/op is per 64 notifications.
func BenchmarkHandle64(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, mode := range []string{"batch", "each"} {
			b.Run(backend+"/"+mode, func(b *testing.B) {
				store, prefs := stores(b, backend)
				q := &fakeQueue{}
				h := notification.NewHandler(store, &pusher{}, &notification.Fanout{
					Prefs: prefs, Queue: q, Settings: settings(b),
					Channels: []notification.Channel{&fakeChannel{name: "email", queue: "emails"}, &fakeChannel{name: "push", queue: "push"}},
				}, slog.New(slog.DiscardHandler))
				ctx := context.Background()
				n := 0
				for b.Loop() {
					jobs := make([]*queue.Job, 64)
					for i := range jobs {
						n++
						jobs[i] = badgeJob(fmt.Sprintf("b-%d", n), int64(i+1))
					}
					errs := make([]error, len(jobs))
					if mode == "batch" {
						errs = h.HandleBatch(ctx, jobs)
					} else {
						var wg sync.WaitGroup
						for i, j := range jobs {
							wg.Go(func() { errs[i] = h.Handle(ctx, j) })
						}
						wg.Wait()
					}
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
					q.take()
				}
			})
		}
	}
}
