package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Admin inspects and steers the configured queues over a backend's Store:
// the admin routes and the dashboard use it. Other queue names give
// ErrQueueNotFound. Safe for concurrent use.
type Admin struct {
	queues  []string
	backend Store
	// SearchBudget bounds the jobs one search request examines, and
	// SearchTime its time (JobQuery.Until): a search answers within about
	// SearchTime, partial when it could not examine every job.
	SearchBudget int
	SearchTime   time.Duration
	// OnScheduleChange, when set, runs after a schedule is put or deleted
	// (the process's Scheduler re-reads them).
	OnScheduleChange func()
}

// NewAdmin returns the Admin of cfg's queues.
func NewAdmin(cfg Config, backend Store) *Admin {
	return &Admin{queues: append([]string(nil), cfg.Queues...), backend: backend,
		SearchBudget: 1_000_000, SearchTime: 180 * time.Millisecond}
}

// Queues lists the configured queue names, in config order.
func (a *Admin) Queues() []string { return append([]string(nil), a.queues...) }

func (a *Admin) check(name string) error {
	for _, q := range a.queues {
		if q == name {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrQueueNotFound, name)
}

// Stats returns every configured queue's counts, in config order.
func (a *Admin) Stats(ctx context.Context) ([]Stats, error) {
	out := make([]Stats, 0, len(a.queues))
	for _, q := range a.queues {
		s, err := a.backend.Stats(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("queue: stats of %s: %w", q, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// QueueStats returns one queue's counts.
func (a *Admin) QueueStats(ctx context.Context, name string) (Stats, error) {
	if err := a.check(name); err != nil {
		return Stats{}, err
	}
	return a.backend.Stats(ctx, name)
}

// Failed lists up to limit dead jobs, newest first (limit <= 0: 50).
func (a *Admin) Failed(ctx context.Context, name string, limit int) ([]FailedJob, error) {
	if limit <= 0 {
		limit = 50
	}
	page, err := a.Jobs(ctx, name, JobQuery{State: StateFailed, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]FailedJob, 0, len(page.Jobs))
	for _, j := range page.Jobs {
		out = append(out, FailedJob{ID: j.ID, Name: j.Name, Payload: j.Payload, Error: j.Error,
			Attempts: j.Attempt, FailedAt: j.FinishedAt})
	}
	return out, nil
}

// Retry puts a failed or cancelled job back to waiting as attempt 1.
func (a *Admin) Retry(ctx context.Context, name, id string) error {
	return a.Act(ctx, name, id, ActRetry)
}

// Job returns one job with its logs.
func (a *Admin) Job(ctx context.Context, name, id string) (*Job, error) {
	if err := a.check(name); err != nil {
		return nil, err
	}
	return a.backend.Job(ctx, name, id)
}

// Jobs lists jobs of one state, newest first. A search examines at most
// SearchBudget jobs and spends about SearchTime per call (JobPage.Partial
// says it stopped there).
func (a *Admin) Jobs(ctx context.Context, name string, q JobQuery) (JobPage, error) {
	if err := a.check(name); err != nil {
		return JobPage{}, err
	}
	if !q.State.Valid() {
		return JobPage{}, fmt.Errorf("%w: state %q", ErrBadQuery, q.State)
	}
	if q.Limit < 1 || q.Limit > 1000 {
		return JobPage{}, fmt.Errorf("%w: limit %d is not between 1 and 1000", ErrBadQuery, q.Limit)
	}
	if q.Search != "" && q.Budget <= 0 {
		q.Budget = a.SearchBudget
	}
	if q.Search != "" && q.Until.IsZero() && a.SearchTime > 0 {
		q.Until = time.Now().Add(a.SearchTime)
	}
	return a.backend.Jobs(ctx, name, q)
}

// Act applies an admin action to one job.
func (a *Admin) Act(ctx context.Context, name, id string, act Action) error {
	if err := a.check(name); err != nil {
		return err
	}
	_, err := a.backend.Act(ctx, name, Target{ID: id}, act)
	return err
}

// RetryFailed puts every failed job of the queue back to waiting.
func (a *Admin) RetryFailed(ctx context.Context, name string) (int, error) {
	if err := a.check(name); err != nil {
		return 0, err
	}
	return a.backend.Act(ctx, name, Target{State: StateFailed}, ActRetry)
}

// Clean removes the jobs of a finished state (completed, failed,
// cancelled) that finished more than olderThan ago.
func (a *Admin) Clean(ctx context.Context, name string, state State, olderThan time.Duration) (int, error) {
	if err := a.check(name); err != nil {
		return 0, err
	}
	switch state {
	case StateCompleted, StateFailed, StateCancelled:
	default:
		return 0, fmt.Errorf("%w: state %q cannot be cleaned (completed, failed or cancelled)", ErrBadQuery, state)
	}
	if olderThan < 0 {
		return 0, fmt.Errorf("%w: olderThan %s is negative", ErrBadQuery, olderThan)
	}
	return a.backend.Act(ctx, name, Target{State: state, Before: time.Now().Add(-olderThan)}, ActRemove)
}

// Pause stops workers of every process from starting jobs of the queue
// (within queue.pause_poll). Running jobs finish; enqueuing still works.
func (a *Admin) Pause(ctx context.Context, name string) error {
	if err := a.check(name); err != nil {
		return err
	}
	return a.backend.SetPaused(ctx, name, true)
}

// Resume lets workers take the queue's jobs again.
func (a *Admin) Resume(ctx context.Context, name string) error {
	if err := a.check(name); err != nil {
		return err
	}
	return a.backend.SetPaused(ctx, name, false)
}

// Minutes returns the per-minute completed and failed counts since since.
func (a *Admin) Minutes(ctx context.Context, name string, since time.Time) ([]Minute, error) {
	if err := a.check(name); err != nil {
		return nil, err
	}
	return a.backend.Minutes(ctx, name, since)
}

// ErrSchedulesUnsupported is returned when the backend stores no schedules.
var ErrSchedulesUnsupported = errors.New("queue: the queue driver does not support schedules")

// ScheduleView is a schedule with its next tick.
type ScheduleView struct {
	Schedule
	Next time.Time `json:"next"`
}

func (a *Admin) scheduling(name string) (Scheduling, error) {
	if err := a.check(name); err != nil {
		return nil, err
	}
	s, ok := a.backend.(Scheduling)
	if !ok {
		return nil, ErrSchedulesUnsupported
	}
	return s, nil
}

// Schedules lists a queue's schedules with their next tick.
func (a *Admin) Schedules(ctx context.Context, name string) ([]ScheduleView, error) {
	s, err := a.scheduling(name)
	if err != nil {
		return nil, err
	}
	ss, err := s.Schedules(ctx, name)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]ScheduleView, len(ss))
	for i, sc := range ss {
		out[i] = ScheduleView{Schedule: sc, Next: sc.Next(now)}
	}
	return out, nil
}

// Schedule returns one schedule.
func (a *Admin) Schedule(ctx context.Context, name, id string) (ScheduleView, error) {
	all, err := a.Schedules(ctx, name)
	if err != nil {
		return ScheduleView{}, err
	}
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
	}
	return ScheduleView{}, fmt.Errorf("%w: %s in %s", ErrScheduleNotFound, id, name)
}

// PutSchedule creates or changes a schedule (validated first).
func (a *Admin) PutSchedule(ctx context.Context, name string, sc Schedule) error {
	s, err := a.scheduling(name)
	if err != nil {
		return err
	}
	sc.Queue = name
	if err := sc.Validate(); err != nil {
		return err
	}
	if err := s.PutSchedule(ctx, name, sc); err != nil {
		return err
	}
	a.changed()
	return nil
}

// DeleteSchedule removes a schedule (one declared in code comes back when
// its program restarts).
func (a *Admin) DeleteSchedule(ctx context.Context, name, id string) error {
	s, err := a.scheduling(name)
	if err != nil {
		return err
	}
	if err := s.DeleteSchedule(ctx, name, id); err != nil {
		return err
	}
	a.changed()
	return nil
}

func (a *Admin) changed() {
	if a.OnScheduleChange != nil {
		a.OnScheduleChange()
	}
}
