package queue

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/fx"
)

// HandlerFunc runs one attempt of a job. Returning an error schedules a
// retry (or dead-letters the job after its last attempt, or at once for
// Permanent errors). The context ends at queue.job_timeout and when the
// worker's shutdown_timeout runs out.
type HandlerFunc func(ctx context.Context, job *Job) error

// Handler binds a HandlerFunc to a queue and a job name ("" = every job of
// the queue that has no handler of its own).
type Handler struct {
	Queue, Name string
	Handle      HandlerFunc
	// Timeout bounds each attempt of this handler's jobs (0: the job's
	// WithTimeout, else queue.job_timeout). A job's own timeout wins. With
	// Batch set it bounds each batch's run instead (BatchHandler).
	Timeout time.Duration
	// Retry is this handler's retry policy (nil: the queue's). A job's
	// own policy wins field by field.
	Retry *RetryPolicy
	// Batch, set instead of Handle, takes the jobs in batches (see Batch
	// and BatchHandler).
	Batch *Batch
}

// AsHandler contributes a constructor's Handler to the fx value group
// "queue.handlers", which the WorkerModule runs. Modules call it; nothing
// in core lists handlers.
func AsHandler(constructor any) fx.Option {
	return fx.Provide(fx.Annotate(constructor, fx.ResultTags(`group:"queue.handlers"`)))
}

// dispatch holds one queue's handlers.
type dispatch struct {
	byName map[string]*Handler
	all    *Handler
}

// handlers lists the queue's handlers.
func (d *dispatch) handlers() []*Handler {
	out := make([]*Handler, 0, len(d.byName)+1)
	for _, h := range d.byName {
		out = append(out, h)
	}
	if d.all != nil {
		out = append(out, d.all)
	}
	return out
}

func (d *dispatch) handler(name string) *Handler {
	if h, ok := d.byName[name]; ok {
		return h
	}
	return d.all
}

func buildDispatch(cfg Config, handlers []Handler) (map[string]*dispatch, error) {
	out := map[string]*dispatch{}
	for _, h := range handlers {
		if !cfg.hasQueue(h.Queue) {
			return nil, fmt.Errorf("%w: handler %q is for queue %q, not in queue.queues", ErrQueueNotFound, h.Name, h.Queue)
		}
		switch {
		case h.Handle == nil && h.Batch == nil:
			return nil, fmt.Errorf("queue: handler %s/%q has no Handle func", h.Queue, h.Name)
		case h.Handle != nil && h.Batch != nil:
			return nil, fmt.Errorf("queue: handler %s/%q sets both Handle and Batch", h.Queue, h.Name)
		case h.Batch != nil:
			if err := h.Batch.validate(); err != nil {
				return nil, fmt.Errorf("queue: handler %s/%q: %w", h.Queue, h.Name, err)
			}
		}
		if h.Timeout < 0 {
			return nil, fmt.Errorf("queue: handler %s/%q: timeout %s is negative", h.Queue, h.Name, h.Timeout)
		}
		if h.Retry != nil {
			if err := h.Retry.Validate(); err != nil {
				return nil, fmt.Errorf("queue: handler %s/%q: retry: %w", h.Queue, h.Name, err)
			}
		}
		d, ok := out[h.Queue]
		if !ok {
			d = &dispatch{byName: map[string]*Handler{}}
			out[h.Queue] = d
		}
		h := h
		if h.Name == "" {
			if d.all != nil {
				return nil, fmt.Errorf("queue: two catch-all handlers for queue %q", h.Queue)
			}
			d.all = &h
			continue
		}
		if _, dup := d.byName[h.Name]; dup {
			return nil, fmt.Errorf("queue: two handlers for job %q of queue %q", h.Name, h.Queue)
		}
		d.byName[h.Name] = &h
	}
	return out, nil
}
