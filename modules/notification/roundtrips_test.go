package notification_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/notification"
	"github.com/tipbox/tipbox/modules/notification/migrations"
)

// The fan-out to the channels costs the notifications worker at most one
// more PostgreSQL round trip than storing and pushing alone, for one
// notification and for a batch: the preferences and subscriptions are one
// read, and the channels' plan rides in the insert. Round trips are
// counted on the wire between the pool and the server, with warm
// statements (the least of three runs, as the pool pings a connection
// idle for over a second).
func TestFanoutCostsOneRoundTrip(t *testing.T) {
	t.Parallel()
	db, rt := dbtest.OpenCountingPostgres(t, database.Migrations{Module: "notification", FS: migrations.FS})
	ctx := t.Context()
	store, prefs := notification.NewStore(db), notification.NewPrefStore(db)
	const users = 16
	for u := int64(1); u <= users; u++ {
		if _, err := prefs.Update(ctx, u, func(cur notification.Preferences) (notification.Preferences, error) {
			return cur.Merge(notification.Preferences{Language: "tr"}, false), nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := prefs.Subscribe(ctx, u, subscription(fmt.Sprint(u))); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	q := &fakeQueue{}
	handlers := map[string]*notification.Handler{
		"store and push": notification.NewHandler(store, &pusher{}, nil, log),
		"with fan-out": notification.NewHandler(store, &pusher{}, &notification.Fanout{
			Prefs: prefs, Queue: q, Settings: settings(t),
			Channels: []notification.Channel{&fakeChannel{name: "email", queue: "emails"}, &fakeChannel{name: "push", queue: "push"}},
		}, log),
	}
	seq := 0
	run := func(h *notification.Handler, size int) int64 {
		jobs := make([]*queue.Job, size)
		for i := range jobs {
			seq++
			jobs[i] = badgeJob(fmt.Sprintf("badge-%d", seq), int64(i%users+1))
		}
		before := rt.Count()
		for i, err := range h.HandleBatch(ctx, jobs) {
			if err != nil {
				t.Fatalf("job %d: %v", i, err)
			}
		}
		return rt.Count() - before
	}
	for _, size := range []int{1, users} {
		cost := map[string]int64{}
		for name, h := range handlers {
			run(h, size) // prepares the statements of this size
			least := int64(1 << 62)
			for range 3 {
				least = min(least, run(h, size))
			}
			cost[name] = least
		}
		jobs := q.take()
		if want := 4 * 2 * size; len(jobs) != want { // 4 runs, 2 channels each
			t.Fatalf("batch of %d: %d channel jobs, want %d", size, len(jobs), want)
		}
		t.Logf("batch of %d: %d round trips to store and push, %d with the fan-out", size, cost["store and push"], cost["with fan-out"])
		if extra := cost["with fan-out"] - cost["store and push"]; extra > 1 {
			t.Errorf("batch of %d: the fan-out costs %d more round trips, want at most 1", size, extra)
		}
	}
}
