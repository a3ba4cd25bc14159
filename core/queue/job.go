package queue

import (
	"encoding/json"
	"fmt"
	"time"
)

// Priority orders jobs of one queue: a worker takes a delivered high job
// before any normal one, and normal before low (see the Worker for the
// read-ahead window that bounds this).
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

// Job is one unit of work as stored and as handed to a handler. Its JSON
// form is what backends store (readable with redis-cli).
type Job struct {
	// ID is stable across attempts: handlers use it for idempotency.
	ID    string `json:"id"`
	Queue string `json:"queue"`
	Name  string `json:"name"`
	// Payload is the JSON the producer enqueued.
	Payload json.RawMessage `json:"payload"`
	// Attempt is 1 on the first run and grows by one per retry.
	Attempt     int      `json:"attempt"`
	MaxAttempts int      `json:"maxAttempts"`
	Priority    Priority `json:"priority"`
	// EnqueuedAt is when the current attempt became due (enqueue time, or
	// the end of its delay/backoff): the start of its enqueue→start latency.
	EnqueuedAt    time.Time `json:"enqueuedAt"`
	CorrelationID string    `json:"correlationId,omitempty"`
}

// Decode unmarshals the payload into v.
func (j *Job) Decode(v any) error { return json.Unmarshal(j.Payload, v) }

// Stats are one queue's counts (SPEC §4).
type Stats struct {
	Name string `json:"name"`
	// Waiting jobs are due and not yet taken by a worker.
	Waiting int64 `json:"waiting"`
	// Active jobs are delivered to a worker and not yet finished.
	Active int64 `json:"active"`
	// Completed and Failed are totals since the queue was created;
	// Failed counts jobs dead-lettered, not failed attempts.
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	// Delayed jobs wait for their delay or their next attempt.
	Delayed int64 `json:"delayed"`
	Paused  bool  `json:"paused"`
}

// FailedJob is a dead-letter record.
type FailedJob struct {
	ID       string          `json:"id"`
	Name     string          `json:"name,omitempty"`
	Payload  json.RawMessage `json:"payload"`
	Error    string          `json:"error"`
	Attempts int             `json:"attempts"`
	FailedAt time.Time       `json:"failedAt"`
}
