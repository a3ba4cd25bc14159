package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// outcomeMiddleware decides what becomes of each delivery, in place of
// Watermill's sleeping Retry and PoisonQueue middlewares, and puts the
// decision on the message for the transport to settle atomically with the
// acknowledgement (SetOutcome):
//   - success: Completed;
//   - an admin cancelled the job while it ran: Cancelled (never retried);
//   - the worker is shutting down and cut the attempt short: Released
//     (back to waiting; the attempt is not counted);
//   - failure with attempts left: Retry at the backoff — the job waits as
//     delayed and holds no worker slot;
//   - failure on the last attempt, a Permanent error, no handler, or an
//     undecodable entry: Dead, with the error and the attempt count.
//
// It also observes the latency metrics and logs failures.
func (w *Worker) outcomeMiddleware(queue string) message.HandlerMiddleware {
	qm := w.metrics.queue(queue)
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			d := deliveryFrom(msg.Context())
			job := d.job
			if job.Undecodable != nil {
				reason := ErrUndecodable.Error() + ": " + job.Undecodable.Error()
				w.logger.LogAttrs(msg.Context(), slog.LevelError, "undecodable job dead-lettered",
					slog.String("queue", queue), slog.String("id", job.ID), slog.String("error", reason))
				SetOutcome(msg, Settlement{Outcome: Dead, At: time.Now(), Error: reason})
				qm.failed.Inc()
				return nil, nil
			}
			start := time.Now()
			if wait := start.Sub(job.RunAt); wait > 0 && !job.RunAt.IsZero() {
				qm.wait.Observe(wait.Seconds())
			}
			_, err := next(msg)
			now := time.Now()
			qm.processing.Observe(now.Sub(start).Seconds())
			st := w.decide(job, d.handler, err, d.isCancelled(), d.timedOut.Load(), now)
			switch st.Outcome {
			case Completed:
				qm.completed.Inc()
			case Retry:
				qm.retried.Inc()
				w.logger.LogAttrs(msg.Context(), slog.LevelWarn, "job attempt failed, retry scheduled",
					slog.String("queue", queue), slog.String("job", job.Name), slog.String("id", job.ID),
					slog.Int("attempt", job.Attempt), slog.Duration("backoff", st.At.Sub(now)), slog.String("error", st.Error))
			case Dead:
				qm.failed.Inc()
				w.logger.LogAttrs(msg.Context(), slog.LevelError, "job failed, moved to dead-letter store",
					slog.String("queue", queue), slog.String("job", job.Name), slog.String("id", job.ID),
					slog.Int("attempts", job.Attempt), slog.String("error", st.Error))
			case Postponed:
				w.logger.LogAttrs(msg.Context(), slog.LevelInfo, "job rate limited by its handler, postponed",
					slog.String("queue", queue), slog.String("job", job.Name), slog.String("id", job.ID),
					slog.Duration("for", st.At.Sub(now)))
			case Cancelled:
				qm.cancelled.Inc()
				w.logger.LogAttrs(msg.Context(), slog.LevelInfo, "running job cancelled",
					slog.String("queue", queue), slog.String("job", job.Name), slog.String("id", job.ID))
			}
			SetOutcome(msg, st)
			return nil, nil
		}
	}
}

// decide maps a handler's result to the delivery's outcome.
func (w *Worker) decide(job *Job, h *Handler, err error, cancelled, timedOut bool, now time.Time) Settlement {
	if err == nil && !timedOut {
		return Settlement{Outcome: Completed, At: now}
	}
	if err == nil {
		// It ignored its context and returned after its timeout: the
		// attempt still failed (it may be retried).
		err = ErrTimeout
	}
	if cancelled {
		return Settlement{Outcome: Cancelled, At: now, Error: "cancelled while running: " + err.Error()}
	}
	if w.abort.Err() != nil && errors.Is(err, context.Canceled) && !timedOut {
		return Settlement{Outcome: Released, At: now, Error: err.Error()}
	}
	if after, ok := IsRateLimited(err); ok {
		return Settlement{Outcome: Postponed, At: now.Add(after), Error: err.Error()}
	}
	if timedOut {
		err = ErrTimeout
	}
	pol := w.cfg.policy()
	if h != nil && h.Retry != nil {
		pol = h.Retry.over(pol)
	}
	if job.Retry != nil {
		pol = job.Retry.over(pol)
	}
	maxAttempts := job.MaxAttempts
	if (job.Retry == nil || job.Retry.MaxAttempts == 0) && h != nil && h.Retry != nil && h.Retry.MaxAttempts > 0 {
		maxAttempts = h.Retry.MaxAttempts
	}
	if job.Attempt >= maxAttempts || IsPermanent(err) || errors.Is(err, ErrNoHandler) {
		return Settlement{Outcome: Dead, At: now, Error: err.Error()}
	}
	return Settlement{Outcome: Retry, At: now.Add(pol.wait(job.Attempt, err)), Error: err.Error()}
}
