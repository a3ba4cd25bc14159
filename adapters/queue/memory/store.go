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
		Delayed: s.count[queue.StateDelayed], Completed: s.completed, Failed: s.failed, Paused: s.paused,
		LastEvent: strconv.FormatUint(s.eventSeq, 10)}, nil
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
	var at int64
	var after string
	if query.Cursor != "" {
		var err error
		if at, after, err = queue.ParseCursor(query.Cursor); err != nil {
			return queue.JobPage{}, err
		}
	}
	switch query.State {
	case queue.StateCompleted, queue.StateFailed, queue.StateCancelled:
		return b.finishedJobs(q, query, at, after)
	}
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
		start = sort.Search(len(all), func(i int) bool {
			k := all[i].EnteredAt().UnixNano()
			return k < at || (k == at && all[i].ID < after)
		})
	}
	var page queue.JobPage
	m := queue.NewMatcher(query.Search)
	i := start
	for ; i < len(all) && len(page.Jobs) < query.Limit; i++ {
		j := all[i]
		if query.Search != "" {
			if query.Budget > 0 && page.Scanned >= query.Budget ||
				page.Scanned%searchBatch == searchBatch-1 && !query.Until.IsZero() && time.Now().After(query.Until) {
				page.Partial = true
				break
			}
			page.Scanned++
			if !m.Job(j) {
				continue
			}
		}
		page.Jobs = append(page.Jobs, clone(j))
	}
	if i < len(all) && i > start {
		page.Next = all[i-1].Cursor()
	}
	return page, nil
}

// searchBatch is how many jobs a listing examines per hold of the lock,
// and between two looks at a search's deadline.
const searchBatch = 2048

// finishedJobs walks a finished state's list (oldest first) from its end,
// a batch per hold of the lock, so that a search over every retained job
// neither sorts them nor holds the queue up for its whole length. Between
// batches the walk resumes by entry sequence, which the list is ordered
// by whatever was trimmed or compacted meanwhile.
func (b *Backend) finishedJobs(q string, query queue.JobQuery, at int64, after string) (queue.JobPage, error) {
	var page queue.JobPage
	m := queue.NewMatcher(query.Search)
	search := query.Search != ""
	var seq uint64      // the last entry visited; 0: none yet
	var last *queue.Job // the last job examined
	for {
		b.mu.Lock()
		s, err := b.state(q)
		if err != nil {
			b.mu.Unlock()
			return queue.JobPage{}, err
		}
		list := s.finished[query.State]
		var i int // the next entry to visit, walking to the oldest
		switch {
		case seq != 0:
			i = sort.Search(len(list), func(k int) bool { return list[k].seq >= seq }) - 1
		case query.Cursor != "":
			i = s.cursorIndex(list, query.State, at, after)
		default:
			i = len(list) - 1
		}
		for n := 0; i >= 0 && n < searchBatch; i-- {
			e := list[i]
			seq = e.seq
			// current(e) without its second lookup: sequences are unique,
			// and delete drops the job's cur.
			if s.cur[e.job.ID] != e.seq || e.job.State != query.State {
				continue
			}
			n++
			if search {
				if query.Budget > 0 && page.Scanned >= query.Budget {
					page.Partial = true
					break
				}
				page.Scanned++
			}
			last = e.job
			if search && !m.Job(e.job) {
				continue
			}
			page.Jobs = append(page.Jobs, clone(e.job))
			if len(page.Jobs) == query.Limit {
				i--
				break
			}
		}
		b.mu.Unlock()
		if i < 0 && !page.Partial {
			return page, nil // the list's end
		}
		if !page.Partial && len(page.Jobs) < query.Limit && search && !query.Until.IsZero() && time.Now().After(query.Until) {
			page.Partial = true
		}
		if page.Partial || len(page.Jobs) == query.Limit {
			if last != nil {
				page.Next = last.Cursor()
			}
			return page, nil
		}
	}
}

// cursorIndex is the index in list (a finished state's, oldest first) of
// the entry that follows the cursor's job, walking to the oldest: found by
// the job's entry while it is still in the state, else by time.
func (s *qstate) cursorIndex(list []entry, state queue.State, at int64, id string) int {
	if j := s.jobs[id]; j != nil && j.State == state {
		if seq, ok := s.cur[id]; ok {
			k := sort.Search(len(list), func(k int) bool { return list[k].seq >= seq })
			if k < len(list) && list[k].seq == seq {
				return k - 1
			}
		}
	}
	return sort.Search(len(list), func(k int) bool { return list[k].at.UnixNano() >= at }) - 1
}

// Act applies an admin action to one job.
func (b *Backend) Act(_ context.Context, q string, t queue.Target, a queue.Action) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return 0, err
	}
	now := b.now()
	if t.ID != "" {
		j, ok := s.jobs[t.ID]
		if !ok {
			return 0, fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, t.ID, q)
		}
		if err := s.act(b, j, a, now); err != nil {
			return 0, err
		}
		return 1, nil
	}
	var pick []*queue.Job
	for _, j := range s.jobs {
		if j.State == t.State && (t.Before.IsZero() || j.EnteredAt().Before(t.Before)) {
			pick = append(pick, j)
		}
	}
	sort.Slice(pick, func(x, y int) bool { return pick[x].EnteredAt().Before(pick[y].EnteredAt()) })
	for n, j := range pick {
		if err := s.act(b, j, a, now); err != nil {
			return n, err
		}
	}
	return len(pick), nil
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
