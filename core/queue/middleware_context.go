package queue

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// contextMiddleware gives the handler its context: the job's correlation
// ID (see CorrelationID), queue.job_timeout, cancellation by an admin
// (Admin.Cancel, on whichever worker runs the job) and cancellation when
// the worker's shutdown_timeout has run out.
func (w *Worker) contextMiddleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		d := deliveryFrom(ctx)
		if id := d.job.CorrelationID; id != "" {
			ctx = ContextWithCorrelationID(ctx, id)
		}
		ctx, cancelCause := context.WithCancelCause(ctx)
		defer cancelCause(nil)
		var cancel context.CancelFunc
		if w.cfg.JobTimeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, w.cfg.JobTimeout)
			defer cancel()
		}
		d.setCancel(cancelCause)
		stop := context.AfterFunc(w.abort, func() { cancelCause(context.Canceled) })
		defer stop()
		msg.SetContext(ctx)
		return next(msg)
	}
}
