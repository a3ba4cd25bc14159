package queue

import "errors"

var (
	// ErrQueueNotFound is returned for a queue name that is not configured.
	ErrQueueNotFound = errors.New("queue: queue not found")
	// ErrJobNotFound is returned for a job the queue does not hold (never
	// enqueued, removed, or dropped by retention).
	ErrJobNotFound = errors.New("queue: job not found")
	// ErrJobState is returned for an admin action the job's state does not
	// allow (e.g. promoting a job that is not delayed).
	ErrJobState = errors.New("queue: job state does not allow this")
	// ErrBadQuery is returned for an invalid listing or admin request
	// (unknown state, limit out of range).
	ErrBadQuery = errors.New("queue: bad request")
	// ErrPaused is returned by Consumer.Fetch when the queue is paused
	// (after settling what it was given).
	ErrPaused = errors.New("queue: paused")
	// ErrStalled is the error of a job dead-lettered because its deliveries
	// kept taking their worker down (see Config.MaxStalled).
	ErrStalled = errors.New("stalled")
	// ErrNoHandler is the error recorded for a job whose name has no handler
	// on its queue. Such a job is dead-lettered without retries.
	ErrNoHandler = errors.New("queue: no handler for job")
	// ErrUndecodable is the error recorded for an entry that is not a job
	// record (e.g. written by hand). It is dead-lettered without retries
	// and cannot be retried.
	ErrUndecodable = errors.New("queue: entry is not a decodable job")
	// ErrUnknownDriver is returned when queue.driver names no registered driver.
	ErrUnknownDriver = errors.New("queue: unknown driver")
	// ErrTxUnsupported is returned by Client.EnqueueTx when the driver
	// cannot enqueue inside the caller's database transaction.
	ErrTxUnsupported = errors.New("queue: the driver cannot enqueue inside a database transaction (queue.driver postgres can)")
	// ErrClosed is returned by operations on a closed backend.
	ErrClosed = errors.New("queue: closed")
	// ErrBadQueueName: a module declared a queue whose name is not 1-64
	// of letters, digits, _ . -.
	ErrBadQueueName = errors.New("queue: bad queue name")
)

// permanentError marks a handler error that must not be retried.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent wraps err so the job is dead-lettered at once instead of being
// retried (e.g. a payload that fails validation will never succeed).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was wrapped by Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
