package queue

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

type jobKey struct{}

func jobFrom(ctx context.Context) *Job {
	j, _ := ctx.Value(jobKey{}).(*Job)
	return j
}

// decodeMiddleware turns the message into a *Job carried by its context. A
// message that is not a job envelope is dead-lettered with ErrUndecodable
// and acked, so one bad entry never stops the queue.
func (w *Worker) decodeMiddleware(queue string) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			job := new(Job)
			if err := json.Unmarshal(msg.Payload, job); err != nil || job.ID == "" || job.Name == "" {
				return nil, w.buryUndecodable(msg, queue, err)
			}
			job.Queue = queue
			msg.SetContext(context.WithValue(msg.Context(), jobKey{}, job))
			return next(msg)
		}
	}
}

func (w *Worker) buryUndecodable(msg *message.Message, queue string, cause error) error {
	reason := ErrUndecodable.Error()
	if cause != nil {
		reason += ": " + cause.Error()
	}
	w.logger.LogAttrs(msg.Context(), slog.LevelError, "undecodable job dead-lettered",
		slog.String("queue", queue), slog.String("uuid", msg.UUID), slog.String("error", reason))
	d := DeadLetter{ID: msg.UUID, Raw: string(msg.Payload), Error: reason, Attempts: 1, FailedAt: time.Now()}
	if err := w.backend.Bury(msg.Context(), queue, d); err != nil {
		return err // nack: delivered again, buried later
	}
	w.metrics.queue(queue).failed.Inc()
	return nil
}
