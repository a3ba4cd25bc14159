package queue

import (
	"context"
	"time"
)

// Option tunes one enqueued job.
type Option func(*options)

type options struct {
	priority      Priority
	delay         time.Duration
	jobID         string
	correlationID string
	maxAttempts   int
	timeout       time.Duration
	retry         *RetryPolicy
	group         string
}

// WithPriority sets the job's priority (default PriorityNormal).
func WithPriority(p Priority) Option { return func(o *options) { o.priority = p } }

// WithDelay makes the job due d from now; it runs no earlier.
func WithDelay(d time.Duration) Option { return func(o *options) { o.delay = d } }

// WithJobID sets the job's ID and deduplicates on it: enqueuing the same ID
// again on the same queue while the backend remembers it (see the driver's
// dedup window) returns the ID without adding a second job.
func WithJobID(id string) Option { return func(o *options) { o.jobID = id } }

// WithCorrelationID sets the correlation ID carried into the handler's
// context and logs. By default the enqueuing context's ID is used.
func WithCorrelationID(id string) Option { return func(o *options) { o.correlationID = id } }

// WithMaxAttempts overrides queue.retry.max_attempts (and the handler's
// policy) for this job.
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithTimeout bounds each attempt of this job: its handler's context is
// cancelled after d and the attempt fails with ErrTimeout.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRetry gives this job its own retry policy (its zero fields fall
// through to the handler's, then the queue's). Func cannot be stored with
// a job: Enqueue refuses a policy that sets it.
func WithRetry(p RetryPolicy) Option { return func(o *options) { o.retry = &p } }

// WithGroup puts the job in a group (a tenant, a user, a provider
// account: 1–64 of letters, digits and _ . : -). A queue serves its
// groups' jobs round-robin among themselves and its other normal-priority
// jobs, so one group's backlog never starves another; each group keeps to
// queue.group_limit and queue.group_concurrency. A grouped job waits in
// its group's line: its priority is not used.
func WithGroup(key string) Option { return func(o *options) { o.group = key } }

// NewJob is one job of an EnqueueBulk call.
type NewJob struct {
	Name    string
	Payload any
	Options []Option
}

type correlationKey struct{}

// ContextWithCorrelationID returns ctx carrying the correlation ID that
// Enqueue stamps on jobs (unless WithCorrelationID says otherwise).
func ContextWithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation ID in ctx, or "". Inside a handler
// it is the running job's, so jobs enqueued by a handler inherit it.
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}
