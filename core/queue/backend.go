package queue

import (
	"context"
	"time"
)

// A queue driver implements Backend: three small ports (Producer for the
// Client, Consumer for the Worker, Store for Admin). Every method must be
// safe for concurrent use; every state change of a job is atomic (a crash
// at any instant leaves each job in exactly one state) and appends an
// Event to the queue's history. Core calls a Backend only with the queues
// of the Config it was opened with (Client, Admin, Worker and Scheduler
// check names first) and never after Close: a driver need not check
// either.
//
// What a driver may add, found by type assertion: Maintainer (background
// work a worker process runs), CancelNotifier (cancellations pushed as
// they happen), Pinger (a health check), io.Closer (called at stop),
// TxProducer (enqueue in the caller's transaction) and Scheduling (stored
// schedules).
type Backend interface {
	Producer
	Consumer
	Store
}

// Maintainer is a backend with background work for worker processes:
// promoting due delayed jobs, taking back stalled ones, enforcing
// retention. Every worker process runs Run until ctx ends; several
// processes may run it at once.
type Maintainer interface {
	Run(ctx context.Context) error
}

// CancelNotifier is a backend that pushes cancellations: the channel
// delivers the IDs of active jobs of the queue whose cancellation an admin
// requested, as soon as it is, and closes when ctx ends. Best effort:
// Consumer.Heartbeat catches what it misses, and is all a backend without
// it offers.
type CancelNotifier interface {
	Cancellations(ctx context.Context, queue string) <-chan string
}

// Pinger is a backend whose storage can be checked (the queue's health
// check).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Producer stores new jobs.
type Producer interface {
	// Enqueue stores jobs of one queue: those with a RunAt in the future
	// as delayed, the others as waiting. A job with Unique set is skipped
	// when the queue already holds or recently held its ID (the driver's
	// dedup window). It honours ctx: when ctx ends first it returns
	// ctx.Err(), and some of the jobs may have been stored.
	Enqueue(ctx context.Context, queue string, jobs []NewRecord) error
}

// NewRecord is a job to store: the Job (State waiting, Attempt 1) and
// whether its ID came from the caller (WithJobID) and must be unique.
type NewRecord struct {
	Job    *Job
	Unique bool
}

// Consumer hands due jobs to a worker process and settles them.
type Consumer interface {
	// Fetch first settles req.Settle, then claims up to req.Max due jobs
	// of req.Queue for req.Consumer, highest priority first, each moved
	// to active with its Delivery token, and returns them (fewer, or none,
	// when fewer are due or the queue is paused). Settling and claiming
	// should be one round trip where the driver can. A failed Fetch may
	// have settled some of req.Settle: settling is idempotent (a delivery
	// settled twice, or no longer current, is left alone), so the caller
	// retries the same settlements.
	Fetch(ctx context.Context, req FetchRequest) ([]*Job, error)
	// Wait blocks until a job of the queue may have become due, d passes
	// or ctx ends. Spurious returns are allowed; a missed wake-up is not
	// (a job enqueued after the last Fetch came up short must end Wait).
	Wait(ctx context.Context, queue string, d time.Duration) error
	// Heartbeat tells the backend that the consumer still runs these
	// deliveries (so they are not taken back as stalled) and returns the
	// IDs among them whose cancellation an admin requested.
	Heartbeat(ctx context.Context, queue, consumer string, running []*Job) (cancel []string, err error)
	// Report records what a running handler reports about its job: its
	// progress, a log line, or both. It is ignored for a delivery that is
	// no longer current.
	Report(ctx context.Context, job *Job, r Report) error
}

// Report is a running job's report: the fields that are set.
type Report struct {
	// Progress is the job's progress (0–100).
	Progress *int
	// Log is a line for the job's log.
	Log *LogLine
}

// HeldError is what Consumer.Fetch returns (after settling) when the queue
// takes no more job until Until: its rate limit is spent for now, or a
// handler asked it to slow down (RateLimited). Fetch may return it with
// the jobs the limit let through: the caller runs them and asks again at
// Until.
type HeldError struct{ Until time.Time }

func (e *HeldError) Error() string { return "queue: held until " + e.Until.Format(time.RFC3339Nano) }

// FetchRequest is one Fetch call.
type FetchRequest struct {
	Queue, Consumer string
	Settle          []Settlement
	Max             int
}

// Outcome is what became of a delivery.
type Outcome int

// The outcomes of a delivery.
const (
	// Completed: the handler succeeded.
	Completed Outcome = iota
	// Retry: the attempt failed; the job waits as delayed until At, then
	// runs as attempt Job.Attempt+1.
	Retry
	// Dead: the job goes to the dead-letter store (state failed).
	Dead
	// Cancelled: an admin cancelled the running job; it is not retried.
	Cancelled
	// Released: the attempt did not run to an end through no fault of
	// the job (its worker is shutting down): back to waiting, no attempt
	// or stall counted.
	Released
	// Postponed: the handler answered RateLimited: the job waits as
	// delayed until At with its attempt unspent, and its group (its queue,
	// without a group) takes no job until At.
	Postponed
)

func (o Outcome) String() string {
	switch o {
	case Completed:
		return "completed"
	case Retry:
		return "retry"
	case Dead:
		return "dead"
	case Cancelled:
		return "cancelled"
	case Released:
		return "released"
	case Postponed:
		return "postponed"
	}
	return "outcome(?)"
}

// Settlement is the outcome of one delivery, as the worker decided it.
type Settlement struct {
	// Job is the delivered job (its ID, Queue, Name, Attempt, Delivery).
	Job     *Job
	Outcome Outcome
	// At is when the job finished, or for Retry when it is due again.
	At time.Time
	// Error is the attempt's error (Retry, Dead, Cancelled).
	Error string
	// Progress, when set, is the progress reported last (stored with the
	// outcome, so a final report needs no round trip of its own).
	Progress *int
}

// Store is the inspection and admin side of a backend.
type Store interface {
	// Stats returns the queue's counts and the position of its event
	// history (Stats.LastEvent).
	Stats(ctx context.Context, queue string) (Stats, error)
	// Job returns one job with its logs (ErrJobNotFound when absent).
	Job(ctx context.Context, queue, id string) (*Job, error)
	// Jobs lists jobs of one state, newest first (see JobQuery).
	Jobs(ctx context.Context, queue string, q JobQuery) (JobPage, error)
	// Act applies an admin action to the jobs t selects and returns how
	// many it changed. One job (t.ID): ErrJobNotFound, or ErrJobState
	// when the job's state does not allow the action. Every job of
	// t.State finished before t.Before (zero: all), in bounded batches:
	// Retry of failed jobs, Remove of completed, failed or cancelled ones.
	Act(ctx context.Context, queue string, t Target, a Action) (int, error)
	// SetPaused pauses or resumes the queue: workers of every process
	// take none of its jobs while it is paused.
	SetPaused(ctx context.Context, queue string, paused bool) error
	// Events returns up to max events of the queue after the event ID
	// `after` ("" = from the oldest kept), waiting up to block for the
	// first one. An `after` older than the oldest kept event returns from
	// the oldest kept (the history is bounded).
	Events(ctx context.Context, queue, after string, max int, block time.Duration) ([]Event, error)
	// Minutes returns the per-minute completed and failed counts since
	// `since` (kept for 24 hours), oldest first, minutes with no
	// finished job left out.
	Minutes(ctx context.Context, queue string, since time.Time) ([]Minute, error)
}

// Target selects the jobs of an Act: the job ID, or (ID empty) every job
// of State that finished before Before (zero: whenever).
type Target struct {
	ID     string
	State  State
	Before time.Time
}

// Action is an admin action on a job.
type Action string

// The admin actions.
const (
	// ActRetry puts a failed or cancelled job back to waiting as a fresh
	// job (attempt 1).
	ActRetry Action = "retry"
	// ActPromote makes a delayed job waiting now.
	ActPromote Action = "promote"
	// ActCancel cancels a waiting or delayed job at once, and an active
	// one by cancelling its handler's context on whichever worker runs it;
	// a cancelled job is not retried.
	ActCancel Action = "cancel"
	// ActRemove deletes a job that is not active.
	ActRemove Action = "remove"
)

// JobQuery selects a page of jobs of one state, newest first.
type JobQuery struct {
	State State
	// Cursor continues a previous page ("" = the newest).
	Cursor string
	// Limit is the page size (1–1000).
	Limit int
	// Search, when set, keeps only jobs whose ID, name, payload or error
	// contains it (case-insensitive, see Matcher). Budget bounds the work:
	// a driver examines at most Budget jobs per call and returns what it
	// found with Next set to continue, and Partial true.
	Search string
	Budget int
	// Until, when set, bounds a search's time the same way: a driver
	// stops examining jobs once it has passed (checked between batches, so
	// it overruns by at most one batch) and returns Partial with Next.
	// Each call examines at least one batch, so following Next always
	// progresses.
	Until time.Time
}

// JobPage is one page of Jobs.
type JobPage struct {
	Jobs []*Job
	// Next continues the listing ("" when there is no more).
	Next string
	// Partial says that a search stopped at its budget: Next continues it.
	Partial bool
	// Scanned is how many jobs a search examined.
	Scanned int
}
