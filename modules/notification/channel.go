package notification

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/queue"
)

// Channel is a way a notification leaves the app besides the socket and
// the inbox (email, Web Push). Each delivery runs as a job of its own on
// the channel's queue.
//
// Deliver returns nil once the notification is handed over, an error made
// by Skip when there is nothing to send to, an error wrapped by
// queue.Permanent when retrying cannot help, or any other error to be
// retried.
type Channel interface {
	Name() string
	Queue() string
	Deliver(ctx context.Context, n Notification, prefs Preferences) error
}

// AsChannel contributes a constructor's Channel to the value group the
// fan-out reads.
func AsChannel(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.As(new(Channel)), fx.ResultTags(`group:"notification.channels"`)))
}

// ChannelJob is the name of channel jobs on their queues.
const ChannelJob = "notification"

type skipError struct{ reason string }

func (s skipError) Error() string { return "skipped: " + s.reason }

// Skip returns the error a Channel gives for a notification it has no way
// to send (no address, no subscription).
func Skip(reason string) error { return skipError{reason} }

// channelPayload is a channel job: the stored notification.
type channelPayload struct {
	ID        int64                      `json:"notificationId"`
	UserID    int64                      `json:"userId"`
	Type      string                     `json:"type"`
	Data      map[string]json.RawMessage `json:"data"`
	CreatedAt time.Time                  `json:"createdAt"`
}

func payloadOf(n Notification) channelPayload {
	return channelPayload{ID: n.ID, UserID: n.UserID, Type: n.Type, Data: n.Data, CreatedAt: n.CreatedAt}
}

func (p channelPayload) notification() Notification {
	return Notification{ID: p.ID, UserID: p.UserID, Type: p.Type, Data: p.Data, CreatedAt: p.CreatedAt}
}

// jobID is a channel job's id: one job per notification and channel, so
// fanning out again (a redelivered notification job) adds none.
func jobID(channel string, notificationID int64) string {
	return fmt.Sprintf("%s-%d", channel, notificationID)
}

// Metrics counts channel deliveries:
//
//	tipbox_notification_deliveries_total{channel,state}   sent, failed, skipped, retry
type Metrics struct{ deliveries *prometheus.CounterVec }

// NewMetrics registers the metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tipbox", Subsystem: "notification", Name: "deliveries_total",
		Help: "Channel delivery outcomes (retry: an attempt failed and will be retried).",
	}, []string{"channel", "state"})}
	if reg != nil {
		if err := reg.Register(m.deliveries); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Runner runs a channel's jobs: it skips deliveries already done,
// re-reads the preferences (the user may have turned the channel off
// since), calls the channel and records the outcome.
type Runner struct {
	ch       Channel
	store    *Store
	prefs    *PrefStore
	settings Settings
	metrics  *Metrics
	log      *slog.Logger
}

// NewRunner returns the job runner of ch. metrics may be nil.
func NewRunner(ch Channel, store *Store, prefs *PrefStore, settings Settings, metrics *Metrics, log *slog.Logger) *Runner {
	if metrics == nil {
		metrics, _ = NewMetrics(nil)
	}
	return &Runner{ch: ch, store: store, prefs: prefs, settings: settings, metrics: metrics,
		log: log.With("module", "notification", "channel", ch.Name())}
}

// QueueHandler registers Handle on the channel's queue.
func (r *Runner) QueueHandler() queue.Handler {
	return queue.Handler{Queue: r.ch.Queue(), Name: ChannelJob, Handle: r.Handle}
}

// counts reports whether a failed attempt run under ctx counts against
// the job's attempts: it does unless ctx was cancelled by other than its
// timeout (a stopping worker hands the job back; an admin's cancel ends
// it).
func counts(ctx context.Context) bool {
	return ctx.Err() == nil || errors.Is(context.Cause(ctx), queue.ErrTimeout)
}

// record stores the delivery's state. The record must not be lost to a
// cancelled job context, so it runs on its own deadline; a failure is
// logged, not retried: a retry would send a delivered message again.
func (r *Runner) record(ctx context.Context, p channelPayload, d Delivery) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.store.SetDelivery(rctx, p.ID, r.ch.Name(), d); err != nil {
		r.log.ErrorContext(ctx, "recording a delivery failed", "notification_id", p.ID, "state", d.State, "err", err)
	}
}

// interrupted returns err, the failure of a step before the delivery was
// tried. When an admin's cancel caused it, the job will not run again, so
// the delivery is recorded skipped first, unless an earlier delivery of
// the job finished it.
func (r *Runner) interrupted(ctx context.Context, p channelPayload, err error) error {
	if !errors.Is(context.Cause(ctx), queue.ErrCancelled) {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if d, ok, derr := r.store.DeliveryOf(rctx, p.ID, r.ch.Name()); derr == nil && !(ok && d.Done()) {
		r.metrics.deliveries.WithLabelValues(r.ch.Name(), StateSkipped).Inc()
		r.record(ctx, p, Delivery{State: StateSkipped, Detail: DetailCancelled})
	}
	return err
}

// Handle runs one attempt of a channel job.
func (r *Runner) Handle(ctx context.Context, job *queue.Job) error {
	var p channelPayload
	if err := job.Decode(&p); err != nil || p.ID <= 0 || p.UserID <= 0 || p.Type == "" {
		return queue.Permanent(fmt.Errorf("%w: channel job %s", ErrBadPayload, job.ID))
	}
	name := r.ch.Name()
	if d, ok, err := r.store.DeliveryOf(ctx, p.ID, name); err != nil {
		return r.interrupted(ctx, p, err)
	} else if ok && d.Done() {
		return nil // done by an earlier delivery of this job
	}
	stored, err := r.prefs.Get(ctx, p.UserID)
	if err != nil {
		return r.interrupted(ctx, p, err)
	}
	prefs := r.settings.Effective(stored)
	var outcome error
	if !prefs.On(p.Type, name) {
		outcome = Skip("disabled")
	} else {
		outcome = r.ch.Deliver(ctx, p.notification(), prefs)
	}
	var skip skipError
	d := Delivery{State: StateSent}
	switch {
	case outcome == nil:
	case errors.As(outcome, &skip):
		d = Delivery{State: StateSkipped, Detail: skip.reason}
		outcome = nil
	case errors.Is(context.Cause(ctx), queue.ErrCancelled):
		// An admin cancelled the job: it will not run again.
		d = Delivery{State: StateSkipped, Detail: DetailCancelled}
	case queue.IsPermanent(outcome) || job.Attempt >= job.MaxAttempts && counts(ctx):
		d = Delivery{State: StateFailed, Detail: outcome.Error()}
	default:
		d = Delivery{State: StatePending, Detail: fmt.Sprintf("attempt %d failed: %v", job.Attempt, outcome)}
	}
	state := d.State
	if state == StatePending {
		state = "retry"
	}
	r.metrics.deliveries.WithLabelValues(name, state).Inc()
	r.record(ctx, p, d)
	if outcome != nil {
		r.log.WarnContext(ctx, "delivery failed", "notification_id", p.ID, "user_id", p.UserID, "attempt", job.Attempt,
			"state", d.State, "err", outcome)
	}
	return outcome
}
