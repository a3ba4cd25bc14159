package notification_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/queue/memory"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
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
	backend, client := memoryQueue(t, &qcfg)
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

// hangingChannel holds each delivery until its context ends.
type hangingChannel struct{}

func (hangingChannel) Name() string  { return "email" }
func (hangingChannel) Queue() string { return notification.EmailQueue }
func (hangingChannel) Deliver(ctx context.Context, _ notification.Notification, _ notification.Preferences) error {
	<-ctx.Done()
	return ctx.Err()
}

// memoryQueue opens the memory queue and a client over it for qcfg (its
// defaults filled in), closed when the test ends.
func memoryQueue(t *testing.T, qcfg *queue.Config) (*memory.Backend, *queue.Client) {
	t.Helper()
	qcfg.SetDefaults()
	backend, err := memory.New(*qcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	client, err := queue.NewClient(*qcfg, backend, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return backend, client
}

// emailRunner runs a Runner over hangingChannel on a real worker over the
// memory queue, and queues one email job for a stored notification: the
// job's id, the notification's, and what the test reads them through.
type emailRunner struct {
	backend *memory.Backend
	store   *notification.Store
	jobID   string
	notice  int64
}

func startEmailRunner(t *testing.T, qcfg queue.Config, ch notification.Channel) emailRunner {
	t.Helper()
	ctx := t.Context()
	store, prefs := stores(t, "sqlite")
	qcfg.Queues = []string{notification.EmailQueue}
	backend, client := memoryQueue(t, &qcfg)
	r := notification.NewRunner(ch, store, prefs, settings(t), nil, slog.New(slog.DiscardHandler))
	w, err := queue.NewWorker(qcfg, backend, []queue.Handler{r.QueueHandler()}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
	})
	n, _, err := store.Save(ctx, "badge-1", 7, "NEW_BADGE", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := "email-" + strconv.FormatInt(n.ID, 10)
	if _, err := client.Enqueue(ctx, notification.EmailQueue, notification.ChannelJob,
		map[string]any{"notificationId": n.ID, "userId": 7, "type": "NEW_BADGE", "data": map[string]any{}}, queue.WithJobID(id)); err != nil {
		t.Fatal(err)
	}
	return emailRunner{backend: backend, store: store, jobID: id, notice: n.ID}
}

// waitJob waits for the email job to reach state.
func (e emailRunner) waitJob(t *testing.T, state queue.State) *queue.Job {
	t.Helper()
	var job *queue.Job
	var err error
	testenv.Eventually(t, 10*time.Second, func() bool {
		job, err = e.backend.Job(t.Context(), notification.EmailQueue, e.jobID)
		return err == nil && job.State == state
	}, "the job never reached %s (last: %+v, %v)", state, &job, &err)
	return job
}

// waitDelivery waits for the inbox to record the email delivery in state.
func (e emailRunner) waitDelivery(t *testing.T, state string) notification.Delivery {
	t.Helper()
	var d notification.Delivery
	testenv.Eventually(t, 5*time.Second, func() bool {
		var ok bool
		d, ok, _ = e.store.DeliveryOf(t.Context(), e.notice, "email")
		return ok && d.State == state
	}, "the delivery is not recorded %s (last: %+v)", state, &d)
	return d
}

// A delivery whose attempts all run out of time (queue.job_timeout) is
// dead in the queue, and the inbox says failed, not pending: on a real
// worker over the memory queue, the last attempt's timeout counts like
// any other failure.
func TestRunnerRecordsTimedOutDeliveryFailed(t *testing.T) {
	t.Parallel()
	var qcfg queue.Config
	qcfg.JobTimeout = 100 * time.Millisecond
	qcfg.Retry.MaxAttempts = 2
	qcfg.Retry.Backoff.Initial = 10 * time.Millisecond
	e := startEmailRunner(t, qcfg, hangingChannel{})
	if job := e.waitJob(t, queue.StateFailed); job.Attempt != 2 {
		t.Fatalf("dead after %d attempts, want 2", job.Attempt)
	}
	e.waitDelivery(t, notification.StateFailed)
}

// enteredChannel is hangingChannel that says when a delivery began.
type enteredChannel struct {
	hangingChannel
	entered chan struct{}
}

func (c enteredChannel) Deliver(ctx context.Context, n notification.Notification, p notification.Preferences) error {
	c.entered <- struct{}{}
	return c.hangingChannel.Deliver(ctx, n, p)
}

// A delivery an admin cancels while it runs is never retried, so the inbox
// must not say pending: it says skipped, cancelled.
func TestRunnerRecordsCancelledDeliverySkipped(t *testing.T) {
	t.Parallel()
	ch := enteredChannel{entered: make(chan struct{}, 1)}
	e := startEmailRunner(t, queue.Config{}, ch)
	select {
	case <-ch.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery never began")
	}
	if err := queue.NewAdmin(queue.Config{Queues: []string{notification.EmailQueue}}, e.backend).
		Act(t.Context(), notification.EmailQueue, e.jobID, queue.ActCancel); err != nil {
		t.Fatal(err)
	}
	e.waitJob(t, queue.StateCancelled)
	if d := e.waitDelivery(t, notification.StateSkipped); d.Detail != "cancelled" {
		t.Fatalf("detail %q, want cancelled", d.Detail)
	}
}

// A cancel that lands before the delivery begins (the handler's first read
// fails with the cancelled context) is recorded too, and never over a
// delivery an earlier run finished.
func TestRunnerRecordsCancelBeforeDelivery(t *testing.T) {
	t.Parallel()
	store, prefs := stores(t, "sqlite")
	r := notification.NewRunner(hangingChannel{}, store, prefs, settings(t), nil, slog.New(slog.DiscardHandler))
	cancelled, cancel := context.WithCancelCause(t.Context())
	cancel(queue.ErrCancelled)
	job := func(key string) (int64, *queue.Job) {
		n, _, err := store.Save(t.Context(), key, 7, "NEW_BADGE", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"notificationId": n.ID, "userId": 7, "type": "NEW_BADGE", "data": map[string]any{}})
		return n.ID, &queue.Job{ID: "email-" + strconv.FormatInt(n.ID, 10), Payload: payload, Attempt: 1, MaxAttempts: 3}
	}
	id, j := job("badge-1")
	if err := r.Handle(cancelled, j); err == nil {
		t.Fatal("a cancelled attempt answered no error")
	}
	if d, _, _ := store.DeliveryOf(t.Context(), id, "email"); d.State != notification.StateSkipped || d.Detail != "cancelled" {
		t.Fatalf("delivery %+v, want skipped: cancelled", d)
	}
	id, j = job("badge-2")
	if err := store.SetDelivery(t.Context(), id, "email", notification.Delivery{State: notification.StateSent}); err != nil {
		t.Fatal(err)
	}
	_ = r.Handle(cancelled, j)
	if d, _, _ := store.DeliveryOf(t.Context(), id, "email"); d.State != notification.StateSent {
		t.Fatalf("a sent delivery became %+v", d)
	}
}

// hangOnceChannel holds its first delivery until its context ends (saying
// when it began) and sends every later one.
type hangOnceChannel struct {
	hangingChannel
	entered chan struct{}
	mu      sync.Mutex
	calls   int
}

func (c *hangOnceChannel) Deliver(ctx context.Context, n notification.Notification, p notification.Preferences) error {
	c.mu.Lock()
	c.calls++
	first := c.calls == 1
	c.mu.Unlock()
	if !first {
		return nil
	}
	c.entered <- struct{}{}
	return c.hangingChannel.Deliver(ctx, n, p)
}

// A delivery skipped because its job was cancelled is not done: when an
// admin retries the cancelled job, it is delivered and the inbox says
// sent.
func TestRunnerDeliversRetriedCancelledJob(t *testing.T) {
	t.Parallel()
	ch := &hangOnceChannel{entered: make(chan struct{}, 1)}
	e := startEmailRunner(t, queue.Config{}, ch)
	select {
	case <-ch.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery never began")
	}
	admin := queue.NewAdmin(queue.Config{Queues: []string{notification.EmailQueue}}, e.backend)
	if err := admin.Act(t.Context(), notification.EmailQueue, e.jobID, queue.ActCancel); err != nil {
		t.Fatal(err)
	}
	e.waitJob(t, queue.StateCancelled)
	e.waitDelivery(t, notification.StateSkipped)
	if err := admin.Retry(t.Context(), notification.EmailQueue, e.jobID); err != nil {
		t.Fatal(err)
	}
	e.waitJob(t, queue.StateCompleted)
	e.waitDelivery(t, notification.StateSent)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.calls != 2 {
		t.Fatalf("%d deliveries, want 2", ch.calls)
	}
}
