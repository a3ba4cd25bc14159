package memory

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

var _ queue.Scheduling = (*Backend)(nil)

// Schedules lists a queue's schedules.
func (b *Backend) Schedules(_ context.Context, q string) ([]queue.Schedule, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return nil, err
	}
	out := make([]queue.Schedule, 0, len(s.schedules))
	for _, sc := range s.schedules {
		out = append(out, *sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PutSchedule stores a schedule, keeping Last and Created.
func (b *Backend) PutSchedule(_ context.Context, q string, sc queue.Schedule) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return err
	}
	sc.Queue = q
	if old, ok := s.schedules[sc.ID]; ok {
		sc.Last, sc.Created = old.Last, old.Created
	} else {
		sc.Last, sc.Created = time.Time{}, b.now().UTC().Truncate(time.Millisecond)
	}
	s.schedules[sc.ID] = &sc
	return nil
}

// DeleteSchedule removes a schedule.
func (b *Backend) DeleteSchedule(_ context.Context, q, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return err
	}
	if _, ok := s.schedules[id]; !ok {
		return fmt.Errorf("%w: %s in %s", queue.ErrScheduleNotFound, id, q)
	}
	delete(s.schedules, id)
	return nil
}

// EnqueueTick makes the tick's job once and records the tick.
func (b *Backend) EnqueueTick(ctx context.Context, q, id string, tick time.Time, job queue.NewRecord) (bool, error) {
	b.mu.Lock()
	s, err := b.state(q)
	if err != nil {
		b.mu.Unlock()
		return false, err
	}
	_, exists := s.jobs[job.Job.ID]
	_, remembered := s.dedup[job.Job.ID]
	if sc, ok := s.schedules[id]; ok && tick.After(sc.Last) {
		sc.Last = tick.UTC()
	}
	b.mu.Unlock()
	if exists || remembered {
		return false, nil
	}
	return true, b.Enqueue(ctx, q, []queue.NewRecord{job})
}
