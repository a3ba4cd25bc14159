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
	"github.com/tipbox/tipbox/core/realtime"
)

// Pusher delivers an event to a user's open sockets, wherever they are
// (core/realtime's Publisher satisfies it). An offline user is not an error.
type Pusher interface {
	Publish(ctx context.Context, userID int64, payload any) error
}

// BatchPusher is a Pusher that takes many events in one call (one round
// trip to the bus); core/realtime's BusPublisher is one. A Handler pushes
// a batch's frames through it when its Pusher is one.
type BatchPusher interface {
	Pusher
	PublishBatch(ctx context.Context, evs []realtime.Event) error
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
	return h.HandleBatch(ctx, []*queue.Job{job})[0]
}

// parse reads a job's payload into the record to store (its plan still
// empty).
func parse(job *queue.Job) (Record, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(job.Payload, &fields); err != nil {
		return Record{}, queue.Permanent(ErrBadPayload)
	}
	var typ string
	var userID int64
	if err := json.Unmarshal(fields["type"], &typ); err != nil || typ == "" {
		typ = job.Name
	}
	if err := json.Unmarshal(fields["userId"], &userID); err != nil || userID <= 0 || typ == "" {
		return Record{}, queue.Permanent(ErrBadPayload)
	}
	delete(fields, "type")
	delete(fields, "userId")
	return Record{JobID: job.ID, UserID: userID, Type: typ, Data: fields}, nil
}

// plan decides each record's channels from its user's preferences and
// subscriptions: one database round trip for all of them.
func (h *Handler) plan(ctx context.Context, recs []Record) error {
	if h.fan == nil || len(h.fan.Channels) == 0 {
		return nil
	}
	users := make([]int64, 0, len(recs))
	seen := make(map[int64]bool, len(recs))
	for _, r := range recs {
		if !seen[r.UserID] {
			seen[r.UserID] = true
			users = append(users, r.UserID)
		}
	}
	stored, subs, err := h.fan.Prefs.ForFanout(ctx, users)
	if err != nil {
		return err
	}
	now := h.fan.Now()
	for i, r := range recs {
		prefs := h.fan.Settings.Effective(stored[r.UserID])
		var notBefore *time.Time
		if d := prefs.QuietFor(now); d > 0 {
			t := now.Add(d).UTC()
			notBefore = &t
		}
		plan := make(map[string]Delivery, len(h.fan.Channels))
		for _, ch := range h.fan.Channels {
			name := ch.Name()
			switch {
			case !prefs.On(r.Type, name):
				plan[name] = Delivery{State: StateSkipped, Detail: "disabled"}
			case name == ChannelPush && subs[r.UserID] == 0:
				plan[name] = Delivery{State: StateSkipped, Detail: "no push subscription"}
			default:
				plan[name] = Delivery{State: StatePending, NotBefore: notBefore}
			}
		}
		recs[i].Plan = plan
	}
	return nil
}

// fanOut queues a job per pending channel of each stored plan, one bulk
// enqueue per channel queue, and returns each notification's error. The
// job ids are the notification's, so a redelivered notification job
// queues none twice.
func (h *Handler) fanOut(ctx context.Context, ns []Notification) []error {
	errs := make([]error, len(ns))
	if h.fan == nil {
		return errs
	}
	for _, ch := range h.fan.Channels {
		var jobs []queue.NewJob
		var of []int // the notification of each job
		for i, n := range ns {
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
			jobs = append(jobs, queue.NewJob{Name: ChannelJob, Payload: payloadOf(n), Options: opts})
			of = append(of, i)
		}
		if len(jobs) == 0 {
			continue
		}
		if _, err := h.fan.Queue.EnqueueBulk(ctx, ch.Queue(), jobs); err != nil {
			for _, i := range of {
				errs[i] = err
			}
		}
	}
	return errs
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

// HandleBatch handles the jobs together and returns each one's error:
// one read of their users' preferences, one insert of their
// notifications (SaveBatch), a push each, one enqueue per channel queue.
// A job whose payload is bad fails alone; when a step shared by the batch
// fails, each job is handled again on its own, so that an error is only
// its own job's.
func (h *Handler) HandleBatch(ctx context.Context, jobs []*queue.Job) []error {
	errs := make([]error, len(jobs))
	recs := make([]Record, 0, len(jobs))
	idx := make([]int, 0, len(jobs)) // the job of each record
	for i, j := range jobs {
		r, err := parse(j)
		if err != nil {
			errs[i] = err
			continue
		}
		recs = append(recs, r)
		idx = append(idx, i)
	}
	if len(recs) == 0 {
		return errs
	}
	err := h.plan(ctx, recs)
	var ns []Notification
	var created []bool
	if err == nil {
		ns, created, err = h.store.SaveBatch(ctx, recs)
	}
	if err != nil {
		if len(recs) == 1 {
			errs[idx[0]] = err
			return errs
		}
		var wg sync.WaitGroup
		for _, i := range idx {
			wg.Go(func() { errs[i] = h.Handle(ctx, jobs[i]) })
		}
		wg.Wait()
		return errs
	}
	for k, n := range ns {
		if !created[k] {
			h.log.DebugContext(ctx, "notification already stored; pushing again", "job_id", recs[k].JobID, "notification_id", n.ID)
		}
	}
	h.pushAll(ctx, ns)
	for k, err := range h.fanOut(ctx, ns) {
		errs[idx[k]] = err
	}
	return errs
}

// pushAll sends each notification to its user's sockets: in one call when
// the Pusher takes batches, else one Publish each, side by side. A push
// that fails is logged; the notification is in the inbox.
func (h *Handler) pushAll(ctx context.Context, ns []Notification) {
	frame := func(n Notification) Notification {
		n.Channels = nil
		return n
	}
	if bp, ok := h.push.(BatchPusher); ok && len(ns) > 1 {
		evs := make([]realtime.Event, 0, len(ns))
		for _, n := range ns {
			ev, err := realtime.NewEvent(n.UserID, frame(n))
			if err != nil {
				h.log.WarnContext(ctx, "push failed; the notification is in the inbox", "user_id", n.UserID, "notification_id", n.ID, "err", err)
				continue
			}
			evs = append(evs, ev)
		}
		if err := bp.PublishBatch(ctx, evs); err != nil {
			h.log.WarnContext(ctx, "push of a batch failed; the notifications are in the inbox", "notifications", len(evs), "err", err)
		}
		return
	}
	var wg sync.WaitGroup
	for _, n := range ns {
		wg.Go(func() {
			if err := h.push.Publish(ctx, n.UserID, frame(n)); err != nil {
				h.log.WarnContext(ctx, "push failed; the notification is in the inbox", "user_id", n.UserID, "notification_id", n.ID, "err", err)
			}
		})
	}
	wg.Wait()
}
