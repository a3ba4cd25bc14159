package queue

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Scheduled is one job handed to Backend.Enqueue.
type Scheduled struct {
	Job *Job
	// Body is Job's JSON: what the backend stores and delivers.
	Body []byte
	// RunAt is when the job becomes due; zero means now.
	RunAt time.Time
	// Dedup is set when the caller chose Job.ID (WithJobID): the backend
	// adds the job only if it does not remember that ID for the queue.
	Dedup bool
}

// DeadLetter is the record a backend keeps in a queue's dead-letter store.
type DeadLetter struct {
	// Job is the job as it last ran; nil when the entry was undecodable.
	Job *Job `json:"job,omitempty"`
	// ID names the record: the job's ID, or the transport's ID of an
	// undecodable entry.
	ID string `json:"id"`
	// Raw is the undecodable entry as found (JSON of its fields or body).
	Raw      string    `json:"raw,omitempty"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failedAt"`
}

// FailedJob is the admin view of the record.
func (d DeadLetter) FailedJob() FailedJob {
	f := FailedJob{ID: d.ID, Error: d.Error, Attempts: d.Attempts, FailedAt: d.FailedAt}
	if d.Job != nil {
		f.Name, f.Payload = d.Job.Name, d.Job.Payload
	} else {
		raw, _ := json.Marshal(d.Raw)
		f.Payload = raw
	}
	return f
}

// Revive returns the job to enqueue again for an Admin retry: attempt 1,
// due now. It fails with ErrUndecodable for an undecodable entry.
func (d DeadLetter) Revive(now time.Time) (*Job, []byte, error) {
	if d.Job == nil {
		return nil, nil, ErrUndecodable
	}
	j := *d.Job
	j.Attempt, j.EnqueuedAt = 1, now
	body, err := marshalJob(&j, false)
	return &j, body, err
}

// Backend stores and delivers the jobs of every configured queue. It is
// implemented by the drivers (adapters/queue/...) and must be safe for
// concurrent use.
//
// Delivery goes through Watermill: Subscriber returns a message.Subscriber
// whose messages carry a job's JSON as payload and its ID as UUID, on the
// topic Topic(queue, priority). Ack means the job is finished (the worker
// has already recorded the outcome with Complete, Reschedule or Bury); Nack
// means deliver again.
type Backend interface {
	// Enqueue stores jobs of one queue (all-or-error per job; on error some
	// may have been stored). Jobs due now are waiting at once.
	Enqueue(ctx context.Context, queue string, jobs []Scheduled) error
	// Topic is the Watermill topic of a queue's priority.
	Topic(queue string, p Priority) string
	// Subscriber returns a subscriber for the queue's topics that delivers
	// up to inFlight messages per topic before they are acked.
	Subscriber(queue string, inFlight int) (message.Subscriber, error)

	// Complete records a successful run (counter and retention record).
	// It may be buffered; Close flushes it.
	Complete(ctx context.Context, job *Job) error
	// Reschedule stores the job (already at its next attempt, as body) to
	// become due at `at`, and counts a retry.
	Reschedule(ctx context.Context, job *Job, body []byte, at time.Time) error
	// Bury adds the record to the queue's dead-letter store, counts a
	// failure and trims the store to the retention.
	Bury(ctx context.Context, queue string, d DeadLetter) error

	Stats(ctx context.Context, queue string) (Stats, error)
	// Failed lists dead-letter records, newest first.
	Failed(ctx context.Context, queue string, limit int) ([]FailedJob, error)
	// RetryFailed moves a dead-letter record back to waiting (ErrJobNotFound
	// when absent, ErrUndecodable when not a job).
	RetryFailed(ctx context.Context, queue, id string) error
	SetPaused(ctx context.Context, queue string, paused bool) error
	Paused(ctx context.Context, queue string) (bool, error)

	// Run does the background work of a worker process (promoting due
	// delayed jobs, trimming) until ctx ends. Several processes may run it
	// at once.
	Run(ctx context.Context) error
	// Ping reports whether the backend's storage answers.
	Ping(ctx context.Context) error
	// Close flushes buffered records and releases resources.
	Close() error
}
