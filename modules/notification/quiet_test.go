package notification_test

import (
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/queue/memory"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/modules/notification"
)

// On a real queue (the memory driver behind the queue client): a channel
// the user turned off gets no job at all, one that is on gets a job that
// runs at once, and during quiet hours the job is stored delayed to their
// end, read on the fan-out's clock (a fake one: 23:00 UTC is 02:00 in
// Istanbul, inside 22:00-07:00, which ends at 04:00 UTC, 5 hours on).
func TestFanoutQueuesByPreferences(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, prefs := stores(t, "sqlite")
	var qcfg queue.Config
	qcfg.Queues = []string{notification.Queue, notification.EmailQueue, notification.PushQueue}
	qcfg.SetDefaults()
	backend, err := memory.New(qcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	client, err := queue.NewClient(qcfg, backend, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	h := notification.NewHandler(store, &pusher{}, &notification.Fanout{
		Prefs: prefs, Queue: client, Settings: settings(t), Now: func() time.Time { return now },
		Channels: []notification.Channel{&fakeChannel{name: "email", queue: "emails"}, &fakeChannel{name: "push", queue: "push"}},
	}, slog.New(slog.DiscardHandler))
	set := func(user int64, p notification.Preferences) {
		if _, err := prefs.Update(ctx, user, func(cur notification.Preferences) (notification.Preferences, error) {
			return cur.Merge(p, false), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The job of a channel for the user's only notification; nil if none.
	channelJob := func(user int64, channel, q string) *queue.Job {
		t.Helper()
		items, err := store.List(ctx, user, 10, 0)
		if err != nil || len(items) != 1 {
			t.Fatalf("user %d inbox: %+v %v", user, items, err)
		}
		j, err := backend.Job(ctx, q, channel+"-"+strconv.FormatInt(items[0].ID, 10))
		if errors.Is(err, queue.ErrJobNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	// User 1: email off, push on (with a subscription), no quiet hours.
	set(1, notification.Preferences{Channels: map[string]map[string]bool{"NEW_BADGE": {"email": false}}})
	if _, err := prefs.Subscribe(ctx, 1, subscription("u1")); err != nil {
		t.Fatal(err)
	}
	// User 2: both on, quiet 22:00-07:00 in Istanbul.
	set(2, notification.Preferences{TimeZone: "Europe/Istanbul", QuietHours: &notification.QuietHours{Start: "22:00", End: "07:00"}})
	if _, err := prefs.Subscribe(ctx, 2, subscription("u2")); err != nil {
		t.Fatal(err)
	}
	for i, err := range h.HandleBatch(ctx, []*queue.Job{badgeJob("badge-1-1", 1), badgeJob("badge-2-1", 2)}) {
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}

	if j := channelJob(1, "email", notification.EmailQueue); j != nil {
		t.Fatalf("user 1 turned email off, yet a job is queued: %+v", j)
	}
	if j := channelJob(1, "push", notification.PushQueue); j == nil || j.State != queue.StateWaiting || j.Name != notification.ChannelJob {
		t.Fatalf("user 1's push job: %+v", j)
	}
	for _, c := range []struct{ channel, queue string }{{"email", notification.EmailQueue}, {"push", notification.PushQueue}} {
		j := channelJob(2, c.channel, c.queue)
		if j == nil || j.State != queue.StateDelayed {
			t.Fatalf("user 2's %s job in quiet hours: %+v", c.channel, j)
		}
		if d := j.RunAt.Sub(j.EnqueuedAt); d != 5*time.Hour {
			t.Fatalf("user 2's %s job runs %s after it was queued, want 5h (the end of quiet hours)", c.channel, d)
		}
	}
	if st, err := backend.Stats(ctx, notification.EmailQueue); err != nil || st.Delayed != 1 || st.Waiting != 0 {
		t.Fatalf("emails queue: %+v %v", st, err)
	}
}
