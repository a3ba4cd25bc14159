package queue

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// contextMiddleware gives the handler its context: the job's correlation
// ID (see CorrelationID), queue.job_timeout, and cancellation when the
// worker's shutdown_timeout has run out.
func (w *Worker) contextMiddleware(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		if id := jobFrom(ctx).CorrelationID; id != "" {
			ctx = ContextWithCorrelationID(ctx, id)
		}
		var cancel context.CancelFunc
		if w.cfg.JobTimeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, w.cfg.JobTimeout)
		} else {
			ctx, cancel = context.WithCancel(ctx)
		}
		defer cancel()
		stop := context.AfterFunc(w.abort, cancel)
		defer stop()
		msg.SetContext(ctx)
		return next(msg)
	}
}
