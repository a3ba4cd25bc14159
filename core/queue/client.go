package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Enqueuer adds jobs to a queue. Modules depend on this interface.
type Enqueuer interface {
	Enqueue(ctx context.Context, queue, name string, payload any, opts ...Option) (jobID string, err error)
	EnqueueBulk(ctx context.Context, queue string, jobs []NewJob) ([]string, error)
}

// Producer is the part of a Backend the Client needs.
type Producer interface {
	Enqueue(ctx context.Context, queue string, jobs []Scheduled) error
}

// Client is the Enqueuer. It is safe for concurrent use; concurrent single
// Enqueue calls are batched by backends that batch (redis pipelines them).
type Client struct {
	cfg     Config
	backend Producer
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

var _ Enqueuer = (*Client)(nil)

// NewClient validates cfg and returns a Client over backend. metrics may
// be nil.
func NewClient(cfg Config, backend Producer, logger *slog.Logger, metrics *Metrics) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue: config: %w", err)
	}
	if metrics == nil {
		metrics, _ = NewMetrics(nil)
	}
	return &Client{cfg: cfg, backend: backend, logger: logger, metrics: metrics, now: time.Now}, nil
}

// Enqueue adds one job and returns its ID. payload is marshalled to JSON
// (json.RawMessage and []byte are taken as JSON already). It returns
// ErrQueueNotFound for an unconfigured queue.
func (c *Client) Enqueue(ctx context.Context, queue, name string, payload any, opts ...Option) (string, error) {
	if !c.cfg.hasQueue(queue) {
		return "", fmt.Errorf("%w: %q", ErrQueueNotFound, queue)
	}
	s, err := c.build(ctx, queue, name, payload, opts)
	if err != nil {
		return "", err
	}
	if err := c.backend.Enqueue(ctx, queue, []Scheduled{s}); err != nil {
		return "", fmt.Errorf("queue: enqueue %s/%s: %w", queue, name, err)
	}
	c.metrics.queue(queue).enqueued.Inc()
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "job enqueued", slog.String("queue", queue),
			slog.String("job", name), slog.String("id", s.Job.ID), slog.String("priority", s.Job.Priority.String()))
	}
	return s.Job.ID, nil
}

// EnqueueBulk adds jobs in one backend call and returns their IDs in order.
func (c *Client) EnqueueBulk(ctx context.Context, queue string, jobs []NewJob) ([]string, error) {
	if !c.cfg.hasQueue(queue) {
		return nil, fmt.Errorf("%w: %q", ErrQueueNotFound, queue)
	}
	batch := make([]Scheduled, len(jobs))
	ids := make([]string, len(jobs))
	for i, nj := range jobs {
		s, err := c.build(ctx, queue, nj.Name, nj.Payload, nj.Options)
		if err != nil {
			return nil, fmt.Errorf("job %d: %w", i, err)
		}
		batch[i], ids[i] = s, s.Job.ID
	}
	if err := c.backend.Enqueue(ctx, queue, batch); err != nil {
		return nil, fmt.Errorf("queue: enqueue %d jobs to %s: %w", len(jobs), queue, err)
	}
	c.metrics.queue(queue).enqueued.Add(float64(len(jobs)))
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "jobs enqueued", slog.String("queue", queue), slog.Int("count", len(jobs)))
	}
	return ids, nil
}

func (c *Client) build(ctx context.Context, queue, name string, payload any, opts []Option) (Scheduled, error) {
	if name == "" {
		return Scheduled{}, fmt.Errorf("queue: job name is empty")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var raw json.RawMessage
	trusted := false // raw comes from json.Marshal (see marshalJob)
	switch p := payload.(type) {
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		trusted = true
		b, err := json.Marshal(payload)
		if err != nil {
			return Scheduled{}, fmt.Errorf("queue: marshal payload of %s: %w", name, err)
		}
		raw = b
	}
	if len(raw) == 0 {
		raw, trusted = json.RawMessage("null"), true
	}
	now := c.now()
	j := &Job{ID: o.jobID, Queue: queue, Name: name, Payload: raw, Attempt: 1,
		MaxAttempts: c.cfg.Retry.MaxAttempts, Priority: o.priority, EnqueuedAt: now,
		CorrelationID: o.correlationID}
	if o.maxAttempts > 0 {
		j.MaxAttempts = o.maxAttempts
	}
	if j.CorrelationID == "" {
		j.CorrelationID = CorrelationID(ctx)
	}
	dedup := j.ID != ""
	if !dedup {
		j.ID = uuid.NewString()
	}
	if j.Priority < PriorityLow || j.Priority > PriorityHigh {
		return Scheduled{}, fmt.Errorf("queue: %s is not a priority", j.Priority)
	}
	s := Scheduled{Job: j, Dedup: dedup}
	if o.delay > 0 {
		s.RunAt = now.Add(o.delay)
		j.EnqueuedAt = s.RunAt
	}
	body, err := marshalJob(j, trusted)
	if err != nil {
		return Scheduled{}, fmt.Errorf("queue: payload of %s is not valid JSON: %w", name, err)
	}
	s.Body = body
	return s, nil
}
