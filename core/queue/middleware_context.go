package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// overrunGrace is how long past its timeout a handler may run before it is
// reported as ignoring its context.
const overrunGrace = time.Second

// contextMiddleware gives the handler its context: the job's correlation
// ID (see CorrelationID), its timeout (the job's, else its handler's, else
// queue.job_timeout), cancellation by an admin (Admin.Cancel, on whichever
// worker runs the job) and cancellation when the worker's shutdown_timeout
// has run out. Go cannot stop a goroutine: a handler that ignores its
// context keeps its slot until it returns; one still running overrunGrace
// past its timeout is logged and counted.
func (w *Worker) contextMiddleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		d := deliveryFrom(ctx)
		job := d.job
		if id := job.CorrelationID; id != "" {
			ctx = ContextWithCorrelationID(ctx, id)
		}
		ctx, cancelCause := context.WithCancelCause(ctx)
		defer cancelCause(nil)
		if disp := w.dispatch[job.Queue]; disp != nil {
			d.handler = disp.handler(job.Name)
		}
		// A batch handler's job is timed by its batch's run (batcher.run),
		// not from here: the wait for its batch is no part of its attempt.
		timeout := job.Timeout
		if timeout == 0 && d.handler != nil {
			timeout = d.handler.Timeout
		}
		if timeout == 0 {
			timeout = w.cfg.JobTimeout
		}
		if timeout > 0 && (d.handler == nil || d.handler.Batch == nil) {
			var cancelT context.CancelFunc
			ctx, cancelT = context.WithTimeoutCause(ctx, timeout, ErrTimeout)
			defer cancelT()
			overrun := time.AfterFunc(timeout+overrunGrace, func() {
				// The line first: whoever sees the count finds the line.
				w.logger.LogAttrs(context.Background(), slog.LevelWarn,
					"job handler still running past its timeout: it ignores its context; its slot stays taken until it returns",
					slog.String("queue", job.Queue), slog.String("job", job.Name), slog.String("id", job.ID),
					slog.Duration("timeout", timeout))
				w.metrics.queue(job.Queue).overruns.Inc()
			})
			defer overrun.Stop()
		}
		d.setCancel(cancelCause)
		stop := context.AfterFunc(w.abort, func() { cancelCause(context.Canceled) })
		defer stop()
		msg.SetContext(ctx)
		out, err := next(msg)
		if context.Cause(ctx) == ErrTimeout {
			d.timedOut.Store(true)
		}
		return out, err
	}
}
