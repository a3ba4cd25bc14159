package notification

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Pusher delivers an event to a user's open sockets, wherever they are
// (core/realtime's Publisher satisfies it). An offline user is not an error.
type Pusher interface {
	Publish(ctx context.Context, userID int64, payload any) error
}

// Fanout is what a Handler needs to send notifications on to channels.
type Fanout struct {
	Prefs    *PrefStore
	Queue    queue.Enqueuer
	Channels []Channel
	Settings Settings
	// Now is the clock quiet hours are read on (default time.Now).
	Now func() time.Time
}

// Handler runs the jobs of the notifications queue.
type Handler struct {
	store *Store
	push  Pusher
	fan   *Fanout
	log   *slog.Logger
}

// NewHandler wires a Handler. With a nil fan it stores and pushes only.
func NewHandler(store *Store, push Pusher, fan *Fanout, log *slog.Logger) *Handler {
	if fan != nil {
		f := *fan
		if f.Now == nil {
			f.Now = time.Now
		}
		f.Channels = slices.Clone(f.Channels)
		slices.SortFunc(f.Channels, func(a, b Channel) int { return strings.Compare(a.Name(), b.Name()) })
		fan = &f
	}
	return &Handler{store: store, push: push, fan: fan, log: log.With("module", "notification")}
}

// Handle stores the job's notification (once per job id) with the plan of
// its channels, pushes it to the user's sockets, and queues one job per
// channel the user has on for its type. A payload without type or userId
// is dead-lettered at once; a database or queue error is retried; a push
// error is logged and the job still succeeds.
func (h *Handler) Handle(ctx context.Context, job *queue.Job) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(job.Payload, &fields); err != nil {
		return queue.Permanent(ErrBadPayload)
	}
	var typ string
	var userID int64
	if err := json.Unmarshal(fields["type"], &typ); err != nil || typ == "" {
		typ = job.Name
	}
	if err := json.Unmarshal(fields["userId"], &userID); err != nil || userID <= 0 || typ == "" {
		return queue.Permanent(ErrBadPayload)
	}
	delete(fields, "type")
	delete(fields, "userId")
	plan, err := h.plan(ctx, userID, typ)
	if err != nil {
		return err
	}
	n, created, err := h.store.Save(ctx, job.ID, userID, typ, fields, plan)
	if err != nil {
		return err
	}
	if !created {
		h.log.DebugContext(ctx, "notification already stored; pushing again", "job_id", job.ID, "notification_id", n.ID)
	}
	frame := n
	frame.Channels = nil
	if err := h.push.Publish(ctx, userID, frame); err != nil {
		h.log.WarnContext(ctx, "push failed; the notification is in the inbox", "user_id", userID, "notification_id", n.ID, "err", err)
	}
	return h.fanOut(ctx, n)
}

// plan decides each channel's fate from the user's preferences and
// subscriptions: one database round trip.
func (h *Handler) plan(ctx context.Context, userID int64, typ string) (map[string]Delivery, error) {
	if h.fan == nil || len(h.fan.Channels) == 0 {
		return nil, nil
	}
	stored, subs, err := h.fan.Prefs.ForFanout(ctx, userID)
	if err != nil {
		return nil, err
	}
	prefs := h.fan.Settings.Effective(stored)
	now := h.fan.Now()
	var notBefore *time.Time
	if d := prefs.QuietFor(now); d > 0 {
		t := now.Add(d).UTC()
		notBefore = &t
	}
	plan := make(map[string]Delivery, len(h.fan.Channels))
	for _, ch := range h.fan.Channels {
		name := ch.Name()
		switch {
		case !prefs.On(typ, name):
			plan[name] = Delivery{State: StateSkipped, Detail: "disabled"}
		case name == ChannelPush && subs == 0:
			plan[name] = Delivery{State: StateSkipped, Detail: "no push subscription"}
		default:
			plan[name] = Delivery{State: StatePending, NotBefore: notBefore}
		}
	}
	return plan, nil
}

// fanOut queues a job per pending channel of the stored plan. The job ids
// are the notification's, so a redelivered notification job queues none
// twice.
func (h *Handler) fanOut(ctx context.Context, n Notification) error {
	if h.fan == nil {
		return nil
	}
	payload := payloadOf(n)
	for _, ch := range h.fan.Channels {
		d, ok := n.Channels[ch.Name()]
		if !ok || d.State != StatePending {
			continue
		}
		opts := []queue.Option{queue.WithJobID(jobID(ch.Name(), n.ID))}
		if d.NotBefore != nil {
			if wait := d.NotBefore.Sub(h.fan.Now()); wait > 0 {
				opts = append(opts, queue.WithDelay(wait))
			}
		}
		if _, err := h.fan.Queue.Enqueue(ctx, ch.Queue(), ChannelJob, payload, opts...); err != nil {
			return err
		}
	}
	return nil
}

// Batches of the notifications queue: up to batchMax jobs, the first
// waiting at most batchWait for company.
const (
	batchMax  = 64
	batchWait = time.Millisecond
)

// QueueHandler is the registration of HandleBatch for the queue's every
// job name.
//
// A job spends most of its time waiting on round trips (the database,
// the realtime bus, the queue), so queue.concurrency slots of one job each
// capped a worker near concurrency / round-trip time (about 400
// notifications/s on the 2-core development machine). Batches hold no
// slot while they fill, and their jobs run side by side.
func (h *Handler) QueueHandler() queue.Handler {
	return queue.BatchHandler{Queue: Queue, MaxSize: batchMax, MaxWait: batchWait, Handle: h.HandleBatch}.Handler()
}

// HandleBatch runs Handle for each job at once and returns their errors,
// each job settled on its own.
func (h *Handler) HandleBatch(ctx context.Context, jobs []*queue.Job) []error {
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { errs[i] = h.Handle(ctx, j) })
	}
	wg.Wait()
	return errs
}
