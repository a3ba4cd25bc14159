package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Stats returns the queue's counts.
func (b *Backend) Stats(_ context.Context, q string) (queue.Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return queue.Stats{}, err
	}
	return queue.Stats{Name: q, Waiting: s.count[queue.StateWaiting], Active: s.count[queue.StateActive],
		Delayed: s.count[queue.StateDelayed], Completed: s.completed, Failed: s.failed, Paused: s.paused}, nil
}

// Job returns one job with its logs.
func (b *Backend) Job(_ context.Context, q, id string) (*queue.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return nil, err
	}
	j, ok := s.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	c := clone(j)
	c.Logs = append([]queue.LogLine(nil), s.logs[id]...)
	return c, nil
}

// Jobs lists a state's jobs newest first. The cursor is the last returned
// (or examined) job's "<unix-nanos>_<id>".
func (b *Backend) Jobs(_ context.Context, q string, query queue.JobQuery) (queue.JobPage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return queue.JobPage{}, err
	}
	var all []*queue.Job
	for _, j := range s.jobs {
		if j.State == query.State {
			all = append(all, j)
		}
	}
	sort.Slice(all, func(x, y int) bool {
		kx, ky := all[x].EnteredAt(), all[y].EnteredAt()
		if !kx.Equal(ky) {
			return kx.After(ky)
		}
		return all[x].ID > all[y].ID
	})
	start := 0
	if query.Cursor != "" {
		at, id, err := queue.ParseCursor(query.Cursor)
		if err != nil {
			return queue.JobPage{}, err
		}
		start = sort.Search(len(all), func(i int) bool {
			k := all[i].EnteredAt().UnixNano()
			return k < at || (k == at && all[i].ID < id)
		})
	}
	page := query.Page(all[start:])
	for i, j := range page.Jobs {
		page.Jobs[i] = clone(j)
	}
	return page, nil
}

// Act applies an admin action to one job.
func (b *Backend) Act(_ context.Context, q, id string, a queue.Action) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return err
	}
	j, ok := s.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	return s.act(b, j, a, b.now())
}

func (s *qstate) act(b *Backend, j *queue.Job, a queue.Action, now time.Time) error {
	bad := func() error {
		return fmt.Errorf("%w: cannot %s a %s job", queue.ErrJobState, a, j.State)
	}
	switch a {
	case queue.ActRetry:
		if j.State != queue.StateFailed && j.State != queue.StateCancelled {
			return bad()
		}
		s.leave(j)
		j.Attempt, j.Stalls, j.Percent = 1, 0, 0
		j.RunAt, j.StartedAt, j.FinishedAt = now, time.Time{}, time.Time{}
		s.push(j)
	case queue.ActPromote:
		if j.State != queue.StateDelayed {
			return bad()
		}
		s.leave(j)
		j.RunAt = now
		s.push(j)
	case queue.ActCancel:
		switch j.State {
		case queue.StateWaiting, queue.StateDelayed:
			s.leave(j)
			s.finish(b, j, queue.StateCancelled, now)
		case queue.StateActive:
			l := s.active[j.ID]
			l.cancel = true
			b.cancels.Publish(s.name, j.ID)
			return nil // the worker settles it as cancelled
		default:
			return bad()
		}
	case queue.ActRemove:
		if j.State == queue.StateActive {
			return bad()
		}
		s.delete(j)
		return nil
	default:
		return fmt.Errorf("%w: action %q", queue.ErrBadQuery, a)
	}
	s.event(j, now, nil)
	return nil
}

// ActAll applies a to every job of state finished before `before`.
func (b *Backend) ActAll(_ context.Context, q string, a queue.Action, state queue.State, before time.Time) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return 0, err
	}
	now := b.now()
	var pick []*queue.Job
	for _, j := range s.jobs {
		if j.State == state && (before.IsZero() || j.EnteredAt().Before(before)) {
			pick = append(pick, j)
		}
	}
	sort.Slice(pick, func(x, y int) bool { return pick[x].EnteredAt().Before(pick[y].EnteredAt()) })
	n := 0
	for _, j := range pick {
		if err := s.act(b, j, a, now); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SetPaused sets the queue's paused flag.
func (b *Backend) SetPaused(_ context.Context, q string, paused bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return err
	}
	s.paused = paused
	if !paused {
		close(s.waiters)
		s.waiters = make(chan struct{})
	}
	return nil
}

// Paused reads the queue's paused flag.
func (b *Backend) Paused(_ context.Context, q string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return false, err
	}
	return s.paused, nil
}

// Events returns up to max events after `after`, waiting up to block.
func (b *Backend) Events(ctx context.Context, q, after string, max int, block time.Duration) ([]queue.Event, error) {
	var from uint64
	if after != "" {
		n, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: event id %q", queue.ErrBadQuery, after)
		}
		from = n
	}
	deadline := time.Now().Add(block)
	for {
		b.mu.Lock()
		s, err := b.state(q)
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		kept := uint64(len(s.events))
		oldest := s.eventSeq - kept + 1
		start := max64(from+1, oldest)
		var out []queue.Event
		for seq := start; seq <= s.eventSeq && len(out) < max; seq++ {
			out = append(out, s.events[(seq-1)%uint64(s.cfg.Events.MaxLen)])
		}
		wake := s.eventsWake
		b.mu.Unlock()
		wait := time.Until(deadline)
		if len(out) > 0 || wait <= 0 {
			return out, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
	}
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// LastEventID is the newest event's ID.
func (b *Backend) LastEventID(_ context.Context, q string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(s.eventSeq, 10), nil
}

// Minutes returns the per-minute counts since `since`, oldest first.
func (b *Backend) Minutes(_ context.Context, q string, since time.Time) ([]queue.Minute, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return nil, err
	}
	from := since.Unix() / 60
	var out []queue.Minute
	for m, c := range s.minutes {
		if m >= from {
			out = append(out, queue.Minute{At: time.Unix(m*60, 0).UTC(), Completed: c[0], Failed: c[1]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}
