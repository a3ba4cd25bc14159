package notification_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/queue/postgres"
	qmig "github.com/tipbox/tipbox/adapters/queue/postgres/migrations"
	"github.com/tipbox/tipbox/adapters/queue/redis"
	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/internal/testenv"
	"github.com/tipbox/tipbox/modules/notification"
	"github.com/tipbox/tipbox/modules/notification/migrations"
)

// sweepEnv is a queue driver with the channel queues and the inbox the
// module keeps beside it.
type sweepEnv struct {
	backend queue.Backend
	client  *queue.Client
	store   *notification.Store
	prefs   *notification.PrefStore
}

// openSweepEnv opens the named queue driver (memory, redis or postgres)
// for the channel queues: the inbox on SQLite beside memory and Redis, in
// the queue's own database beside PostgreSQL.
func openSweepEnv(t *testing.T, driver string) sweepEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	qcfg := queue.Config{Driver: driver, Queues: []string{notification.EmailQueue, notification.PushQueue}}
	qcfg.SetDefaults()
	var e sweepEnv
	var err error
	switch driver {
	case "memory":
		e.store, e.prefs = stores(t, "sqlite")
		e.backend, e.client = memoryQueue(t, &qcfg)
		return e
	case "redis":
		e.store, e.prefs = stores(t, "sqlite")
		addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		t.Cleanup(func() { _ = c.Close(); testenv.DeleteKeys(t, addr, prefix) })
		rcfg := redis.Config{Prefix: prefix}
		rcfg.SetDefaults()
		e.backend, err = redis.New(rcfg, qcfg, c, log, nil)
	case "postgres":
		db := dbtest.Open(t, "postgres", database.Migrations{Module: "notification", FS: migrations.FS},
			database.Migrations{Module: "queue_postgres", FS: qmig.FS})
		e.store, e.prefs = notification.NewStore(db), notification.NewPrefStore(db)
		e.backend, err = postgres.New(db.DB, qcfg, nil, log)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.backend.(interface{ Close() error }).Close() })
	if e.client, err = queue.NewClient(qcfg, e.backend, log, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// Channel jobs cancelled while they wait (here delayed by quiet hours, no
// worker running) never reach their Runner; the sweep records their
// deliveries skipped, cancelled: those cancelled before it started (a
// worker process that was down) and those cancelled since. It leaves
// alone the other channel's delivery, and one already recorded sent. On
// every queue driver.
func TestSweepRecordsCancelledWaitingDeliveriesSkipped(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"memory", "redis", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			e := openSweepEnv(t, driver)
			ctx := t.Context()
			// 23:00 UTC is inside the user's quiet hours (22:00-07:00
			// UTC): every channel job is delayed 8 hours.
			now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
			chans := []notification.Channel{&fakeChannel{name: "email", queue: notification.EmailQueue},
				&fakeChannel{name: "push", queue: notification.PushQueue}}
			h := notification.NewHandler(e.store, &pusher{}, &notification.Fanout{
				Prefs: e.prefs, Queue: e.client, Settings: settings(t), Channels: chans, Now: func() time.Time { return now },
			}, slog.New(slog.DiscardHandler))
			if _, err := e.prefs.Update(ctx, 2, func(cur notification.Preferences) (notification.Preferences, error) {
				return cur.Merge(notification.Preferences{TimeZone: "UTC",
					QuietHours: &notification.QuietHours{Start: "22:00", End: "07:00"}}, false), nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.prefs.Subscribe(ctx, 2, subscription("u2")); err != nil {
				t.Fatal(err)
			}
			for i, err := range h.HandleBatch(ctx, []*queue.Job{badgeJob("a", 2), badgeJob("b", 2), badgeJob("c", 2)}) {
				if err != nil {
					t.Fatalf("job %d: %v", i, err)
				}
			}
			items, err := e.store.List(ctx, 2, 10, 0)
			if err != nil || len(items) != 3 {
				t.Fatalf("inbox: %+v %v", items, err)
			}
			a, b, c := items[2].ID, items[1].ID, items[0].ID // newest first
			admin := queue.NewAdmin(queue.Config{Queues: []string{notification.EmailQueue, notification.PushQueue}}, e.backend)
			cancel := func(id int64) {
				t.Helper()
				jobID := "email-" + strconv.FormatInt(id, 10)
				if j, err := e.backend.Job(ctx, notification.EmailQueue, jobID); err != nil || j.State != queue.StateDelayed {
					t.Fatalf("email job of %d: %+v %v", id, j, err)
				}
				if err := admin.Act(ctx, notification.EmailQueue, jobID, queue.ActCancel); err != nil {
					t.Fatal(err)
				}
			}
			delivery := func(id int64, channel string) notification.Delivery {
				t.Helper()
				items, err := e.store.List(ctx, 2, 10, 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					if it.ID == id {
						return it.Channels[channel]
					}
				}
				t.Fatalf("notification %d is not in the inbox", id)
				return notification.Delivery{}
			}
			skipped := func(id int64) {
				t.Helper()
				var d notification.Delivery
				testenv.Eventually(t, 10*time.Second, func() bool {
					d = delivery(id, "email")
					return d.State == notification.StateSkipped && d.Detail == notification.DetailCancelled
				}, "notification %d's email delivery is not skipped: cancelled (last: %+v)", id, &d)
			}

			// Cancelled before any sweep ran: a's email (its delivery is
			// the plan's pending, nothing recorded), and c's, which the
			// inbox says was sent.
			cancel(a)
			if err := e.store.SetDelivery(ctx, c, "email", notification.Delivery{State: notification.StateSent}); err != nil {
				t.Fatal(err)
			}
			cancel(c)
			sweep := notification.NewCancelSweep(e.store, e.backend, chans, nil, slog.New(slog.DiscardHandler))
			sweep.Every = 10 * time.Millisecond
			rctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = sweep.Run(rctx) })
			t.Cleanup(func() { stop(); wg.Wait() })
			skipped(a)

			// Cancelled while the sweep runs: b's email, whose delivery
			// a failed attempt recorded pending (its retry was delayed).
			if err := e.store.SetDelivery(ctx, b, "email", notification.Delivery{State: notification.StatePending,
				Detail: "attempt 1 failed: 421"}); err != nil {
				t.Fatal(err)
			}
			cancel(b)
			skipped(b)

			if d := delivery(c, "email"); d.State != notification.StateSent {
				t.Fatalf("c's sent email became %+v", d)
			}
			for _, id := range []int64{a, b, c} {
				if d := delivery(id, "push"); d.State != notification.StatePending {
					t.Fatalf("notification %d's push (not cancelled) became %+v", id, d)
				}
			}
			// A process that starts later reads the cancelled jobs again
			// and changes nothing.
			if n, err := notification.NewCancelSweep(e.store, e.backend, chans, nil, slog.New(slog.DiscardHandler)).Sweep(ctx); err != nil || n != 0 {
				t.Fatalf("a second process's sweep changed %d deliveries (%v), want 0", n, err)
			}
		})
	}
}

// A sweep reads past its first page: every one of more cancelled jobs than
// a page holds, on the first sweep and on a later one.
func TestSweepPagesThroughCancelledJobs(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"memory", "redis", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			e := openSweepEnv(t, driver)
			ctx := t.Context()
			admin := queue.NewAdmin(queue.Config{Queues: []string{notification.EmailQueue, notification.PushQueue}}, e.backend)
			chans := []notification.Channel{&fakeChannel{name: "email", queue: notification.EmailQueue}}
			sweep := notification.NewCancelSweep(e.store, e.backend, chans, nil, slog.New(slog.DiscardHandler))
			next := 0
			cancelled := func(count int) {
				t.Helper()
				for range count {
					next++
					n, _, err := e.store.Save(ctx, "job-"+strconv.Itoa(next), 7, "NEW_BADGE", nil,
						map[string]notification.Delivery{"email": {State: notification.StatePending}})
					if err != nil {
						t.Fatal(err)
					}
					id := "email-" + strconv.FormatInt(n.ID, 10)
					if _, err := e.client.Enqueue(ctx, notification.EmailQueue, notification.ChannelJob,
						map[string]any{"notificationId": n.ID, "userId": 7, "type": "NEW_BADGE", "data": map[string]any{}},
						queue.WithJobID(id), queue.WithDelay(time.Hour)); err != nil {
						t.Fatal(err)
					}
					if err := admin.Act(ctx, notification.EmailQueue, id, queue.ActCancel); err != nil {
						t.Fatal(err)
					}
				}
			}
			cancelled(45)
			if n, err := sweep.Sweep(ctx); err != nil || n != 45 {
				t.Fatalf("first sweep: %d deliveries (%v), want 45", n, err)
			}
			cancelled(30)
			if n, err := sweep.Sweep(ctx); err != nil || n != 30 {
				t.Fatalf("second sweep: %d deliveries (%v), want 30", n, err)
			}
			items, err := e.store.List(ctx, 7, 100, 0)
			if err != nil || len(items) != 75 {
				t.Fatalf("inbox: %d items, %v", len(items), err)
			}
			for _, it := range items {
				if d := it.Channels["email"]; d.State != notification.StateSkipped || d.Detail != notification.DetailCancelled {
					t.Fatalf("notification %d: %+v", it.ID, d)
				}
			}
		})
	}
}
