package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

type jobKey struct{}

func jobFrom(ctx context.Context) *Job {
	j, _ := ctx.Value(jobKey{}).(*Job)
	return j
}

func decodeJob(msg *message.Message) (*Job, error) {
	job := new(Job)
	if err := unmarshalJob(msg.Payload, job); err != nil {
		return nil, err
	}
	if job.ID == "" || job.Name == "" {
		return nil, errors.New("id or name missing")
	}
	return job, nil
}

// predecode decodes the job ahead, in the gate's long-lived goroutine:
// the Router runs each message on a fresh goroutine, whose stack would
// have to grow for the deep reflection of encoding/json — a measurable
// part of a job's CPU. A message it cannot decode is left to
// decodeMiddleware.
func predecode(msg *message.Message) {
	if job, err := decodeJob(msg); err == nil {
		msg.SetContext(context.WithValue(msg.Context(), jobKey{}, job))
	}
}

// decodeMiddleware makes sure the message's context carries its *Job. A
// message that is not a job envelope is dead-lettered with ErrUndecodable
// and acked, so one bad entry never stops the queue.
func (w *Worker) decodeMiddleware(queue string) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			job := jobFrom(msg.Context())
			if job == nil {
				var err error
				if job, err = decodeJob(msg); err != nil {
					return nil, w.buryUndecodable(msg, queue, err)
				}
				msg.SetContext(context.WithValue(msg.Context(), jobKey{}, job))
			}
			job.Queue = queue
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
