package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Priority orders jobs of one queue: a worker with a free slot takes a due
// high job before any normal one, and normal before low.
type Priority int

// The priorities. The zero value is PriorityNormal.
const (
	PriorityLow    Priority = -1
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

// Priorities lists the priorities from the first served to the last.
var Priorities = [3]Priority{PriorityHigh, PriorityNormal, PriorityLow}

func (p Priority) String() string {
	switch p {
	case PriorityHigh:
		return "high"
	case PriorityLow:
		return "low"
	case PriorityNormal:
		return "normal"
	}
	return fmt.Sprintf("priority(%d)", int(p))
}

// Index is p's position in Priorities (0 high, 1 normal, 2 low).
func (p Priority) Index() int {
	switch p {
	case PriorityHigh:
		return 0
	case PriorityLow:
		return 2
	}
	return 1
}

// MarshalText stores the priority by name, readable in redis-cli.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText accepts high, normal, low and "" (normal).
func (p *Priority) UnmarshalText(b []byte) error {
	switch string(b) {
	case "high":
		*p = PriorityHigh
	case "normal", "":
		*p = PriorityNormal
	case "low":
		*p = PriorityLow
	default:
		return fmt.Errorf("queue: unknown priority %q", b)
	}
	return nil
}

// State is where a job is in its lifecycle:
//
//	waiting → active → completed
//	                 → delayed (retry after a backoff) → waiting …
//	                 → failed (dead: the dead-letter store)
//	                 → cancelled
//	delayed (WithDelay) → waiting
//
// An active job whose worker dies is taken back to waiting (counted as an
// attempt and a stall) or, past queue.max_stalled, to failed with the
// error "stalled". Admin actions move failed and cancelled jobs back to
// waiting (retry), delayed ones to waiting (promote), and waiting, delayed
// or active ones to cancelled (cancel).
type State string

// The states of a job record.
const (
	StateWaiting   State = "waiting"
	StateActive    State = "active"
	StateDelayed   State = "delayed"
	StateCompleted State = "completed"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// States lists every state, in lifecycle order.
var States = []State{StateWaiting, StateActive, StateDelayed, StateCompleted, StateFailed, StateCancelled}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, x := range States {
		if s == x {
			return true
		}
	}
	return false
}

// Job is one unit of work: the record a backend stores and the value a
// handler receives. Handlers read it; only the engine changes it.
type Job struct {
	// ID is stable across attempts: handlers use it for idempotency.
	ID    string
	Queue string
	Name  string
	// Payload is the JSON the producer enqueued.
	Payload  json.RawMessage
	Priority Priority
	State    State
	// Attempt is the current (or last) attempt, 1 on the first run.
	Attempt     int
	MaxAttempts int
	// Stalls counts deliveries cut short by the death of their worker.
	Stalls int
	// Percent is the progress, 0–100, as last reported by the handler
	// (Job.Progress).
	Percent int
	// Error is the last failed attempt's error ("" if none).
	Error string
	// EnqueuedAt is when the job was created; RunAt when it becomes (or
	// became) due; StartedAt when its last attempt started; FinishedAt
	// when it completed, failed or was cancelled. Zero when not set.
	EnqueuedAt, RunAt, StartedAt, FinishedAt time.Time
	// CorrelationID ties the job to the request that enqueued it.
	CorrelationID string
	// Timeout, when set, bounds each attempt (WithTimeout); else the
	// handler's, else queue.job_timeout.
	Timeout time.Duration
	// Retry, when set, is the job's own retry policy (WithRetry).
	Retry *RetryPolicy
	// Group, when set, puts the job in a group (WithGroup): groups are
	// served round-robin, each within its own limit and concurrency.
	Group string
	// Logs are the handler's log lines, newest last; filled only by
	// Store.Job.
	Logs []LogLine

	// Delivery is the backend's token for this delivery of the job (set
	// by Consumer.Fetch): settling a delivery that is no longer current
	// (taken back after a stall, cancelled, removed) is a no-op.
	Delivery string
	// Undecodable is set by Consumer.Fetch for an entry that is not a
	// job record; the worker dead-letters it with ErrUndecodable.
	Undecodable error

	reporter reporter
}

// LogLine is one line a handler logged with Job.Log.
type LogLine struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// reporter lets a running job report progress and log lines.
type reporter interface {
	reportProgress(ctx context.Context, j *Job, pct int) error
	appendLog(ctx context.Context, j *Job, line string) error
}

// Decode unmarshals the payload into v.
func (j *Job) Decode(v any) error { return json.Unmarshal(j.Payload, v) }

// Progress records the running job's progress (clamped to 0–100) in its
// record and as a "progress" event. Outside a worker it does nothing.
func (j *Job) Progress(ctx context.Context, pct int) error {
	pct = min(max(pct, 0), 100)
	j.Percent = pct
	if j.reporter == nil {
		return nil
	}
	return j.reporter.reportProgress(ctx, j, pct)
}

// Log appends a line to the job's log (kept with the record, bounded by
// queue.logs.max_lines, each line cut at queue.logs.max_bytes).
func (j *Job) Log(ctx context.Context, format string, args ...any) error {
	if j.reporter == nil {
		return nil
	}
	return j.reporter.appendLog(ctx, j, fmt.Sprintf(format, args...))
}

// Stats are one queue's counts.
type Stats struct {
	Name string `json:"name"`
	// Waiting jobs are due and not yet taken by a worker.
	Waiting int64 `json:"waiting"`
	// Active jobs are running on a worker.
	Active int64 `json:"active"`
	// Completed and Failed are totals since the queue was created;
	// Failed counts jobs dead-lettered, not failed attempts.
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	// Delayed jobs wait for their delay or their next attempt.
	Delayed int64 `json:"delayed"`
	Paused  bool  `json:"paused"`
	// LastEvent is the ID of the queue's newest event when Stats ran (a
	// driver's "before every event" ID when there is none): reading events
	// after it misses nothing published after Stats returned.
	LastEvent string `json:"-"`
}

// FailedJob is the dead-letter view of a failed job (the legacy route
// GET /api/v1/admin/queues/{name}/failed).
type FailedJob struct {
	ID       string          `json:"id"`
	Name     string          `json:"name,omitempty"`
	Payload  json.RawMessage `json:"payload"`
	Error    string          `json:"error"`
	Attempts int             `json:"attempts"`
	FailedAt time.Time       `json:"failedAt"`
}

// Event is one transition of a job, as kept in a queue's bounded event
// history and served by the events route.
type Event struct {
	// ID orders a queue's events; a client resumes after it.
	ID       string    `json:"-"`
	JobID    string    `json:"jobId"`
	Queue    string    `json:"queue"`
	Name     string    `json:"name"`
	State    State     `json:"state"`
	Attempts int       `json:"attempts"`
	Progress *int      `json:"progress,omitempty"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// Minute is one minute's count of finished jobs.
type Minute struct {
	At        time.Time `json:"at"`
	Completed int64     `json:"completed"`
	Failed    int64     `json:"failed"`
}
