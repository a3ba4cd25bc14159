package queue

import (
	"context"
	"fmt"
)

// Admin inspects and steers queues (the admin routes of SPEC §4).
type Admin interface {
	Stats(ctx context.Context) ([]Stats, error)
	QueueStats(ctx context.Context, name string) (Stats, error)
	Failed(ctx context.Context, name string, limit int) ([]FailedJob, error)
	Retry(ctx context.Context, name, id string) error
	Pause(ctx context.Context, name string) error
	Resume(ctx context.Context, name string) error
}

// Inspector is the part of a Backend that Admin needs.
type Inspector interface {
	Stats(ctx context.Context, queue string) (Stats, error)
	Failed(ctx context.Context, queue string, limit int) ([]FailedJob, error)
	RetryFailed(ctx context.Context, queue, id string) error
	SetPaused(ctx context.Context, queue string, paused bool) error
}

// AdminService implements Admin over a backend for the configured queues:
// other names give ErrQueueNotFound. Safe for concurrent use.
type AdminService struct {
	queues  []string
	backend Inspector
}

var _ Admin = (*AdminService)(nil)

// NewAdmin returns the Admin of cfg's queues.
func NewAdmin(cfg Config, backend Inspector) *AdminService {
	return &AdminService{queues: append([]string(nil), cfg.Queues...), backend: backend}
}

func (a *AdminService) check(name string) error {
	for _, q := range a.queues {
		if q == name {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrQueueNotFound, name)
}

// Stats returns every configured queue's counts, in config order.
func (a *AdminService) Stats(ctx context.Context) ([]Stats, error) {
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
func (a *AdminService) QueueStats(ctx context.Context, name string) (Stats, error) {
	if err := a.check(name); err != nil {
		return Stats{}, err
	}
	return a.backend.Stats(ctx, name)
}

// Failed lists up to limit dead jobs, newest first (limit <= 0: 50).
func (a *AdminService) Failed(ctx context.Context, name string, limit int) ([]FailedJob, error) {
	if err := a.check(name); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	return a.backend.Failed(ctx, name, limit)
}

// Retry puts a dead job back as waiting, attempt 1.
func (a *AdminService) Retry(ctx context.Context, name, id string) error {
	if err := a.check(name); err != nil {
		return err
	}
	return a.backend.RetryFailed(ctx, name, id)
}

// Pause stops workers of every process from starting jobs of the queue
// (within queue.pause_poll). Running jobs finish; enqueuing still works.
func (a *AdminService) Pause(ctx context.Context, name string) error {
	if err := a.check(name); err != nil {
		return err
	}
	return a.backend.SetPaused(ctx, name, true)
}

// Resume lets workers take the queue's jobs again.
func (a *AdminService) Resume(ctx context.Context, name string) error {
	if err := a.check(name); err != nil {
		return err
	}
	return a.backend.SetPaused(ctx, name, false)
}
