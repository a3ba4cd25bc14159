package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Enqueuer adds jobs to a queue. Modules depend on this interface.
type Enqueuer interface {
	Enqueue(ctx context.Context, queue, name string, payload any, opts ...Option) (jobID string, err error)
	EnqueueBulk(ctx context.Context, queue string, jobs []NewJob) ([]string, error)
}

// TxEnqueuer enqueues a job inside the caller's database transaction: the
// job exists, and workers see it, exactly when tx commits; a rollback
// leaves no job. Only a driver that keeps jobs in the application's
// database can (postgres); the others return ErrTxUnsupported.
type TxEnqueuer interface {
	EnqueueTx(ctx context.Context, tx *sql.Tx, queue, name string, payload any, opts ...Option) (jobID string, err error)
	// SupportsTx reports whether EnqueueTx works with the configured driver.
	SupportsTx() bool
}

// TxProducer is the port of a driver that can store jobs inside a
// transaction on the application's database.
type TxProducer interface {
	EnqueueTx(ctx context.Context, tx *sql.Tx, queue string, jobs []NewRecord) error
}

// Client is the Enqueuer and the TxEnqueuer. It is safe for concurrent
// use; concurrent single Enqueue calls are batched by backends that batch
// (redis pipelines them).
type Client struct {
	cfg     Config
	backend Producer
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

var (
	_ Enqueuer   = (*Client)(nil)
	_ TxEnqueuer = (*Client)(nil)
)

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
	if err := c.backend.Enqueue(ctx, queue, []NewRecord{s}); err != nil {
		return "", fmt.Errorf("queue: enqueue %s/%s: %w", queue, name, err)
	}
	c.metrics.queue(queue).enqueued.Inc()
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "job enqueued", slog.String("queue", queue),
			slog.String("job", name), slog.String("id", s.Job.ID), slog.String("priority", s.Job.Priority.String()))
	}
	return s.Job.ID, nil
}

// EnqueueTx adds one job inside tx (see TxEnqueuer) and returns its ID.
func (c *Client) EnqueueTx(ctx context.Context, tx *sql.Tx, queue, name string, payload any, opts ...Option) (string, error) {
	tp, ok := c.backend.(TxProducer)
	if !ok {
		return "", ErrTxUnsupported
	}
	if !c.cfg.hasQueue(queue) {
		return "", fmt.Errorf("%w: %q", ErrQueueNotFound, queue)
	}
	s, err := c.build(ctx, queue, name, payload, opts)
	if err != nil {
		return "", err
	}
	if err := tp.EnqueueTx(ctx, tx, queue, []NewRecord{s}); err != nil {
		return "", fmt.Errorf("queue: enqueue %s/%s in a transaction: %w", queue, name, err)
	}
	// Counted when the caller's transaction may still roll back: the
	// counter is of enqueue calls, as for Enqueue.
	c.metrics.queue(queue).enqueued.Inc()
	return s.Job.ID, nil
}

// SupportsTx reports whether EnqueueTx works with the configured driver.
func (c *Client) SupportsTx() bool {
	_, ok := c.backend.(TxProducer)
	return ok
}

// EnqueueBulk adds jobs in one backend call and returns their IDs in order.
func (c *Client) EnqueueBulk(ctx context.Context, queue string, jobs []NewJob) ([]string, error) {
	if !c.cfg.hasQueue(queue) {
		return nil, fmt.Errorf("%w: %q", ErrQueueNotFound, queue)
	}
	batch := make([]NewRecord, len(jobs))
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

func (c *Client) build(ctx context.Context, queue, name string, payload any, opts []Option) (NewRecord, error) {
	if name == "" {
		return NewRecord{}, fmt.Errorf("queue: job name is empty")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var raw json.RawMessage
	switch p := payload.(type) {
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return NewRecord{}, fmt.Errorf("queue: marshal payload of %s: %w", name, err)
		}
		raw = b
	}
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	} else if !json.Valid(raw) {
		return NewRecord{}, fmt.Errorf("queue: payload of %s is not valid JSON", name)
	}
	now := c.now()
	j := &Job{ID: o.jobID, Queue: queue, Name: name, Payload: raw, State: StateWaiting, Attempt: 1,
		MaxAttempts: c.cfg.Retry.MaxAttempts, Priority: o.priority, EnqueuedAt: now, RunAt: now,
		CorrelationID: o.correlationID}
	if o.retry != nil {
		if o.retry.Func != nil {
			return NewRecord{}, fmt.Errorf("queue: retry policy of %s: Func cannot be stored with a job (set it on the handler)", name)
		}
		if err := o.retry.Validate(); err != nil {
			return NewRecord{}, fmt.Errorf("queue: retry policy of %s: %w", name, err)
		}
		r := *o.retry
		j.Retry = &r
		if r.MaxAttempts > 0 {
			j.MaxAttempts = r.MaxAttempts
		}
	}
	if o.maxAttempts > 0 {
		j.MaxAttempts = o.maxAttempts
		if j.Retry == nil {
			j.Retry = &RetryPolicy{}
		}
		j.Retry.MaxAttempts = o.maxAttempts
	}
	if o.group != "" {
		if !groupKey.MatchString(o.group) {
			return NewRecord{}, fmt.Errorf("queue: group of %s: %q is not 1-64 of letters, digits and _ . : -", name, o.group)
		}
		j.Group = o.group
	}
	if o.timeout < 0 {
		return NewRecord{}, fmt.Errorf("queue: timeout of %s: %s is negative", name, o.timeout)
	}
	j.Timeout = o.timeout
	if j.CorrelationID == "" {
		j.CorrelationID = CorrelationID(ctx)
	}
	dedup := j.ID != ""
	if !dedup {
		j.ID = uuid.NewString()
	}
	if j.Priority < PriorityLow || j.Priority > PriorityHigh {
		return NewRecord{}, fmt.Errorf("queue: %s is not a priority", j.Priority)
	}
	if len(j.ID) > maxJobID {
		return NewRecord{}, fmt.Errorf("queue: job id of %s is longer than %d bytes", name, maxJobID)
	}
	if o.delay > 0 {
		j.RunAt, j.State = now.Add(o.delay), StateDelayed
	}
	return NewRecord{Job: j, Unique: dedup}, nil
}

// maxJobID bounds caller-chosen job IDs (they are keys in the backend).
const maxJobID = 256

var groupKey = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
