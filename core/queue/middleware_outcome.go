package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// outcomeMiddleware records what became of an attempt, in place of
// Watermill's sleeping Retry and PoisonQueue middlewares:
//   - success: Complete;
//   - failure with attempts left: the job, at its next attempt, goes back
//     to the backend's delayed schedule after the backoff, and the delivery
//     is acked — the worker slot is free at once;
//   - failure on the last attempt, a Permanent error or no handler: the job
//     goes to the dead-letter store with its error and attempt count.
//
// It returns an error (nack, delivered again) only when the backend cannot
// record the outcome. It also observes the latency metrics.
func (w *Worker) outcomeMiddleware(queue string) message.HandlerMiddleware {
	qm := w.metrics.queue(queue)
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			// Recording must outlive the handler's timeout and shutdown.
			ctx := context.WithoutCancel(msg.Context())
			job := jobFrom(ctx)
			start := time.Now()
			if wait := start.Sub(job.EnqueuedAt); wait > 0 {
				qm.wait.Observe(wait.Seconds())
			}
			_, err := next(msg)
			qm.processing.Observe(time.Since(start).Seconds())
			if err == nil {
				if err := w.backend.Complete(ctx, job); err != nil {
					return nil, err
				}
				qm.completed.Inc()
				return nil, nil
			}
			if w.abort.Err() != nil {
				return nil, err // aborted by shutdown: not acked, runs again after restart
			}
			final := job.Attempt >= job.MaxAttempts || IsPermanent(err) || errors.Is(err, ErrNoHandler)
			if !final {
				next := *job
				next.Attempt++
				delay := w.cfg.Retry.Backoff.Backoff(job.Attempt)
				next.EnqueuedAt = time.Now().Add(delay)
				body, merr := marshalJob(&next, false)
				if merr == nil {
					if rerr := w.backend.Reschedule(ctx, &next, body, next.EnqueuedAt); rerr != nil {
						return nil, rerr
					}
					qm.retried.Inc()
					w.logger.LogAttrs(ctx, slog.LevelWarn, "job attempt failed, retry scheduled",
						slog.String("queue", queue), slog.String("job", job.Name), slog.String("id", job.ID),
						slog.Int("attempt", job.Attempt), slog.Duration("backoff", delay), slog.String("error", err.Error()))
					return nil, nil
				}
			}
			d := DeadLetter{Job: job, ID: job.ID, Error: err.Error(), Attempts: job.Attempt, FailedAt: time.Now()}
			if berr := w.backend.Bury(ctx, queue, d); berr != nil {
				return nil, berr
			}
			qm.failed.Inc()
			w.logger.LogAttrs(ctx, slog.LevelError, "job failed, moved to dead-letter store",
				slog.String("queue", queue), slog.String("job", job.Name), slog.String("id", job.ID),
				slog.Int("attempts", job.Attempt), slog.String("error", err.Error()))
			return nil, nil
		}
	}
}
