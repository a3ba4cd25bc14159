package notification_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/push"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/notification"
	"github.com/tipbox/tipbox/modules/notification/migrations"
)

func settings(t testing.TB) notification.Settings {
	t.Helper()
	var cfg notification.Config
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return notification.NewSettings(cfg)
}

func stores(t testing.TB, backend string) (*notification.Store, *notification.PrefStore) {
	db := dbtest.Open(t, backend, database.Migrations{Module: "notification", FS: migrations.FS})
	return notification.NewStore(db), notification.NewPrefStore(db)
}

// enqueued is one job a fakeQueue took.
type enqueued struct {
	queue, name string
	payload     json.RawMessage
	options     int
}

type fakeQueue struct {
	mu   sync.Mutex
	jobs []enqueued
}

func (q *fakeQueue) Enqueue(_ context.Context, queueName, name string, payload any, opts ...queue.Option) (string, error) {
	b, _ := json.Marshal(payload)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, enqueued{queueName, name, b, len(opts)})
	return "id", nil
}

func (q *fakeQueue) EnqueueBulk(ctx context.Context, queueName string, jobs []queue.NewJob) ([]string, error) {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i], _ = q.Enqueue(ctx, queueName, j.Name, j.Payload, j.Options...)
	}
	return ids, nil
}

func (q *fakeQueue) take() []enqueued {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.jobs
	q.jobs = nil
	return out
}

// fakeChannel answers Deliver with err and counts calls.
type fakeChannel struct {
	name, queue string
	mu          sync.Mutex
	calls       int
	err         error
}

func (c *fakeChannel) Name() string  { return c.name }
func (c *fakeChannel) Queue() string { return c.queue }
func (c *fakeChannel) Deliver(context.Context, notification.Notification, notification.Preferences) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.err
}

func badgeJob(id string, user int64) *queue.Job {
	return &queue.Job{ID: id, Queue: notification.Queue, Name: "NEW_BADGE", Attempt: 1, MaxAttempts: 3,
		Payload: json.RawMessage(`{"type":"NEW_BADGE","userId":` + jsonInt(user) + `,"badgeId":1,"badgeName":"First Post","badgeIcon":"🎯"}`)}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func subscription(n string) push.Subscription {
	return push.Subscription{Endpoint: "https://push.example.com/" + n,
		P256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
		Auth:   "tBHItJI5svbpez7KI4CCXg"}
}

// The fan-out: a channel that is off gets no job, push without a
// subscription gets none, quiet hours delay the jobs to their end (on a
// fake clock) while the socket gets the notification at once, and a
// redelivered notification job queues the same job ids again.
func TestFanoutFollowsPreferences(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		ctx := t.Context()
		store, prefs := stores(t, backend)
		q := &fakeQueue{}
		p := &pusher{}
		now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
		h := notification.NewHandler(store, p, &notification.Fanout{
			Prefs: prefs, Queue: q, Settings: settings(t), Now: func() time.Time { return now },
			Channels: []notification.Channel{
				&fakeChannel{name: "push", queue: "push"}, &fakeChannel{name: "email", queue: "emails"},
			},
		}, slog.New(slog.DiscardHandler))

		// User 1: defaults, no push subscription: email only.
		if err := h.Handle(ctx, badgeJob("badge-1-1", 1)); err != nil {
			t.Fatal(err)
		}
		jobs := q.take()
		if len(jobs) != 1 || jobs[0].queue != "emails" || jobs[0].name != notification.ChannelJob || jobs[0].options != 1 {
			t.Fatalf("user 1 jobs %+v", jobs)
		}
		var pl map[string]any
		_ = json.Unmarshal(jobs[0].payload, &pl)
		if pl["userId"] != float64(1) || pl["type"] != "NEW_BADGE" || pl["notificationId"] == nil {
			t.Fatalf("payload %s", jobs[0].payload)
		}
		items, _ := store.List(ctx, 1, 10, 0)
		if items[0].Channels["email"].State != "pending" || items[0].Channels["push"].State != "skipped" ||
			items[0].Channels["push"].Detail != "no push subscription" {
			t.Fatalf("user 1 plan %+v", items[0].Channels)
		}

		// User 2: email off, one push subscription: push only.
		if _, err := prefs.Update(ctx, 2, func(cur notification.Preferences) (notification.Preferences, error) {
			return cur.Merge(notification.Preferences{Channels: map[string]map[string]bool{"NEW_BADGE": {"email": false}}}, false), nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := prefs.Subscribe(ctx, 2, subscription("a")); err != nil {
			t.Fatal(err)
		}
		if err := h.Handle(ctx, badgeJob("badge-2-1", 2)); err != nil {
			t.Fatal(err)
		}
		if jobs := q.take(); len(jobs) != 1 || jobs[0].queue != "push" {
			t.Fatalf("user 2 jobs %+v", jobs)
		}
		items, _ = store.List(ctx, 2, 10, 0)
		if items[0].Channels["email"].State != "skipped" || items[0].Channels["email"].Detail != "disabled" {
			t.Fatalf("user 2 plan %+v", items[0].Channels)
		}

		// User 3: quiet 22:00-07:00 in Istanbul (UTC+3); 23:00 UTC is 02:00
		// there, so the jobs wait until 07:00 Istanbul = 04:00 UTC.
		if _, err := prefs.Update(ctx, 3, func(cur notification.Preferences) (notification.Preferences, error) {
			return cur.Merge(notification.Preferences{TimeZone: "Europe/Istanbul",
				QuietHours: &notification.QuietHours{Start: "22:00", End: "07:00"}}, false), nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := h.Handle(ctx, badgeJob("badge-3-1", 3)); err != nil {
			t.Fatal(err)
		}
		jobs = q.take()
		if len(jobs) != 1 || jobs[0].options != 2 { // job id and delay
			t.Fatalf("user 3 jobs %+v", jobs)
		}
		items, _ = store.List(ctx, 3, 10, 0)
		nb := items[0].Channels["email"].NotBefore
		if want := time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC); nb == nil || !nb.Equal(want) {
			t.Fatalf("notBefore %v, want %v", nb, want)
		}
		if len(p.got) != 3 {
			t.Fatalf("socket pushes %d, want 3 (quiet hours do not hold the socket)", len(p.got))
		}
		if strings.Contains(p.got[2], "channels") {
			t.Fatalf("the socket frame carries delivery states: %s", p.got[2])
		}

		// Redelivery: the same plan, the same jobs (their ids dedupe).
		if err := h.Handle(ctx, badgeJob("badge-1-1", 1)); err != nil {
			t.Fatal(err)
		}
		if again := q.take(); len(again) != 1 || again[0].queue != "emails" {
			t.Fatalf("redelivery jobs %+v", again)
		}
	})
}

// The runner records each outcome once: sent, skipped, failed for good,
// retried while attempts remain, failed on the last; a settled delivery
// is not sent again; a channel turned off after the fan-out is skipped.
func TestRunnerRecordsOutcomes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		ctx := t.Context()
		store, prefs := stores(t, backend)
		ch := &fakeChannel{name: "email", queue: "emails"}
		r := notification.NewRunner(ch, store, prefs, settings(t), nil, slog.New(slog.DiscardHandler))
		state := func(id int64) notification.Delivery {
			d, _, err := store.DeliveryOf(ctx, id, "email")
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		run := func(id int64, attempt int) error {
			n, _, err := store.Save(ctx, "job-"+jsonInt(id), 9, "NEW_BADGE", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(map[string]any{"notificationId": n.ID, "userId": 9, "type": "NEW_BADGE", "data": map[string]any{}})
			return r.Handle(ctx, &queue.Job{ID: "email-x", Payload: payload, Attempt: attempt, MaxAttempts: 3})
		}
		idOf := func(key int64) int64 {
			n, _, _ := store.Save(ctx, "job-"+jsonInt(key), 9, "NEW_BADGE", nil, nil)
			return n.ID
		}

		if err := run(1, 1); err != nil || state(idOf(1)).State != "sent" || ch.calls != 1 {
			t.Fatalf("sent: %v %+v calls %d", err, state(idOf(1)), ch.calls)
		}
		if err := run(1, 2); err != nil || ch.calls != 1 {
			t.Fatalf("a settled delivery ran again: %v, calls %d", err, ch.calls)
		}
		ch.err = notification.Skip("no email address")
		if err := run(2, 1); err != nil || state(idOf(2)).State != "skipped" || state(idOf(2)).Detail != "no email address" {
			t.Fatalf("skipped: %v %+v", err, state(idOf(2)))
		}
		ch.err = queue.Permanent(errors.New("550 no such mailbox"))
		if err := run(3, 1); !queue.IsPermanent(err) || state(idOf(3)).State != "failed" || !strings.Contains(state(idOf(3)).Detail, "550") {
			t.Fatalf("permanent: %v %+v", err, state(idOf(3)))
		}
		ch.err = errors.New("451 try later")
		if err := run(4, 1); err == nil || queue.IsPermanent(err) || state(idOf(4)).State != "pending" || !strings.Contains(state(idOf(4)).Detail, "451") {
			t.Fatalf("retry: %v %+v", err, state(idOf(4)))
		}
		if err := run(4, 3); err == nil || state(idOf(4)).State != "failed" {
			t.Fatalf("last attempt: %v %+v", err, state(idOf(4)))
		}
		// A dead delivery retried by an admin runs again.
		ch.err = nil
		calls := ch.calls
		if err := run(4, 1); err != nil || ch.calls != calls+1 || state(idOf(4)).State != "sent" {
			t.Fatalf("retried dead delivery: %v %+v", err, state(idOf(4)))
		}
		ch.err = errors.New("451 try later")
		if err := run(6, 3); err == nil || state(idOf(6)).State != "failed" {
			t.Fatalf("last attempt: %v %+v", err, state(idOf(6)))
		}
		items, _ := store.List(ctx, 9, 10, 0)
		if len(items) != 5 || items[0].Channels["email"].State != "failed" || items[4].Channels["email"].State != "sent" ||
			items[4].Channels["email"].UpdatedAt == nil {
			t.Fatalf("inbox %+v", items)
		}

		if n, err := store.MarkRead(ctx, 9, items[4].ID); err != nil || n.Channels["email"].State != "sent" {
			t.Fatalf("mark read: %+v %v", n, err)
		}

		// Off since the fan-out: skipped without calling the channel.
		ch.err, ch.calls = nil, 0
		if _, err := prefs.Update(ctx, 9, func(cur notification.Preferences) (notification.Preferences, error) {
			return cur.Merge(notification.Preferences{Channels: map[string]map[string]bool{"NEW_BADGE": {"email": false}}}, false), nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := run(5, 1); err != nil || ch.calls != 0 || state(idOf(5)).State != "skipped" || state(idOf(5)).Detail != "disabled" {
			t.Fatalf("turned off: %v calls %d %+v", err, ch.calls, state(idOf(5)))
		}
		if err := r.Handle(ctx, &queue.Job{ID: "bad", Payload: json.RawMessage(`{}`), Attempt: 1, MaxAttempts: 3}); !queue.IsPermanent(err) {
			t.Fatalf("bad payload: %v", err)
		}
	})
}

func TestPrefStore(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		ctx := t.Context()
		_, prefs := stores(t, backend)
		if p, n, err := prefs.ForFanout(ctx, []int64{5}); err != nil || len(n) != 0 || len(p) != 0 {
			t.Fatalf("nothing stored: %+v %v %v", p, n, err)
		}
		set := func(u notification.Preferences, clear bool) notification.Preferences {
			p, err := prefs.Update(ctx, 5, func(cur notification.Preferences) (notification.Preferences, error) { return cur.Merge(u, clear), nil })
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		set(notification.Preferences{Language: "tr", QuietHours: &notification.QuietHours{Start: "22:00", End: "07:00"},
			Channels: map[string]map[string]bool{"NEW_BADGE": {"email": false}}}, false)
		p := set(notification.Preferences{Channels: map[string]map[string]bool{"NEW_BADGE": {"push": false}}}, true)
		if p.Language != "tr" || p.QuietHours != nil || p.Channels["NEW_BADGE"]["email"] || p.Channels["NEW_BADGE"]["push"] {
			t.Fatalf("merged %+v", p)
		}
		// Concurrent updates of one user lose nothing.
		var wg sync.WaitGroup
		for _, ch := range []string{"email", "push"} {
			wg.Go(func() {
				set(notification.Preferences{Channels: map[string]map[string]bool{"NEW_BADGE": {ch: true}}}, false)
			})
		}
		wg.Wait()
		got, _ := prefs.Get(ctx, 5)
		if !got.Channels["NEW_BADGE"]["email"] || !got.Channels["NEW_BADGE"]["push"] {
			t.Fatalf("after concurrent updates %+v", got)
		}

		if _, err := prefs.Subscribe(ctx, 5, subscription("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := prefs.Subscribe(ctx, 5, subscription("b")); err != nil {
			t.Fatal(err)
		}
		if _, err := prefs.Subscribe(ctx, 6, subscription("b")); err != nil { // another user on that browser
			t.Fatal(err)
		}
		stored, n, err := prefs.ForFanout(ctx, []int64{5, 6, 7})
		if err != nil || n[5] != 1 || n[6] != 1 || n[7] != 0 || stored[5].Language != "tr" || len(stored) != 1 {
			t.Fatalf("users 5, 6, 7: preferences %+v, subscriptions %v (%v); want user 5's, and 1, 1, 0", stored, n, err)
		}
		if err := prefs.Unsubscribe(ctx, 5, subscription("b").Endpoint); !errors.Is(err, notification.ErrSubscriptionNotFound) {
			t.Fatalf("another user's endpoint: %v", err)
		}
		if err := prefs.Forget(ctx, subscription("a").Endpoint); err != nil {
			t.Fatal(err)
		}
		if subs, _ := prefs.Subscriptions(ctx, 5); len(subs) != 0 {
			t.Fatalf("after forget: %+v", subs)
		}
		subs, _ := prefs.Subscriptions(ctx, 6)
		if len(subs) != 1 || subs[0].Keys.Auth != subscription("b").Auth || subs[0].Keys.Endpoint != subscription("b").Endpoint {
			t.Fatalf("user 6: %+v", subs)
		}
	})
}
