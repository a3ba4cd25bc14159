package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Scheduler makes the jobs of the stored schedules at their ticks. Every
// process that enqueues runs one (API and worker processes alike): at a
// tick each of them asks the backend for the tick's job, whose id is
// unique, so exactly one job is made — at the cost of one round trip per
// tick per process. Schedules are re-read every Refresh (and at once after
// a change through Admin in this process).
//
// Start and Stop are called once each (fx lifecycle).
type Scheduler struct {
	cfg      Config
	store    Scheduling
	declared []Schedule
	logger   *slog.Logger
	// Refresh is how often schedules are re-read (default 10 s).
	Refresh time.Duration
	// Retry is how long it waits before trying again to store the declared
	// schedules when the store failed (default 1 s).
	Retry time.Duration
	// Grace is how far behind a running process may fall and still make
	// every tick that came due meanwhile (default 1 min): a store that
	// answers slowly or a starved CPU delays ticks, it does not drop them.
	// A tick further behind counts as missed, as one due while no process
	// ran (a process suspended for an hour does not fire an hour of ticks).
	Grace time.Duration
	now   func() time.Time

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	seen   map[string]bool // schedules whose missed ticks were handled
}

// NewScheduler returns a scheduler over store for cfg's queues; declared
// are the schedules modules declare in code (stored at Start).
func NewScheduler(cfg Config, store Scheduling, declared []Schedule, logger *slog.Logger) *Scheduler {
	return &Scheduler{cfg: cfg, store: store, declared: declared, logger: logger, Refresh: 10 * time.Second,
		Retry: time.Second, Grace: time.Minute, now: time.Now, wake: make(chan struct{}, 1), seen: map[string]bool{}}
}

// Start checks the declared schedules and starts ticking. A schedule
// that cannot work (unknown queue, bad spec) fails Start; a store that
// does not answer does not: the declared schedules are stored as soon as
// it does (a process may start before its Redis), and no tick is made
// before that.
func (s *Scheduler) Start(context.Context) error {
	for _, d := range s.declared {
		if !s.cfg.hasQueue(d.Queue) {
			return fmt.Errorf("%w: schedule %q is for queue %q, not in queue.queues", ErrQueueNotFound, d.ID, d.Queue)
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("schedule %q: %w", d.ID, err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		if s.storeDeclared(runCtx) {
			s.loop(runCtx)
		}
	}()
	return nil
}

// storeDeclared upserts the declared schedules, retrying every Retry
// until they are all stored; false when ctx ended first.
func (s *Scheduler) storeDeclared(ctx context.Context) bool {
	pending := s.declared
	for {
		for len(pending) > 0 {
			d := pending[0]
			if err := s.store.PutSchedule(ctx, d.Queue, d); err != nil {
				if ctx.Err() != nil {
					return false
				}
				s.logger.Warn("queue schedule: not stored; retrying", "queue", d.Queue, "schedule", d.ID, "retry_in", s.Retry, "error", err)
				break
			}
			pending = pending[1:]
		}
		if len(pending) == 0 {
			return true
		}
		t := time.NewTimer(s.Retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// Stop stops ticking.
func (s *Scheduler) Stop(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Changed makes the scheduler re-read the schedules now.
func (s *Scheduler) Changed() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) load(ctx context.Context) []Schedule {
	var all []Schedule
	for _, q := range s.cfg.Queues {
		ss, err := s.store.Schedules(ctx, q)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("queue schedules: read failed; retrying", "queue", q, "error", err)
			}
			continue
		}
		all = append(all, ss...)
	}
	return all
}

func (s *Scheduler) loop(ctx context.Context) {
	var scheds []Schedule
	var reloadAt time.Time
	prev := s.now()
	// known holds each schedule's timing as of the last pass: only ticks
	// of a schedule this process already ran, unchanged, are made back to
	// prev; one it has just met (new, or changed) makes no earlier tick
	// than the one due now.
	known := map[string]Schedule{}
	for ctx.Err() == nil {
		now := s.now()
		if !now.Before(reloadAt) {
			scheds = s.load(ctx)
			reloadAt = now.Add(s.Refresh)
			s.catchUp(ctx, scheds, now)
		}
		// Fire what came due since the last pass, oldest first: every tick
		// of each known schedule in (prev, now], back to Grace; the latest
		// one in it of a schedule just met.
		from := prev
		if g := now.Add(-s.Grace); g.After(from) {
			from = g
		}
		next := map[string]Schedule{}
		for _, sc := range scheds {
			key := sc.Queue + "/" + sc.ID
			next[key] = sc
			if k, ok := known[key]; !ok || k.Every != sc.Every || k.Cron != sc.Cron || k.TimeZone != sc.TimeZone {
				if tick := sc.latest(prev, now); !tick.IsZero() {
					s.fire(ctx, sc, tick)
				}
				continue
			}
			for tick := sc.Next(from); !tick.IsZero() && !tick.After(now) && ctx.Err() == nil; tick = sc.Next(tick) {
				s.fire(ctx, sc, tick)
			}
		}
		known, prev = next, now
		wakeAt := reloadAt
		for _, sc := range scheds {
			if n := sc.Next(now); !n.IsZero() && n.Before(wakeAt) {
				wakeAt = n
			}
		}
		t := time.NewTimer(max(wakeAt.Sub(s.now()), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.wake:
			t.Stop()
			reloadAt = time.Time{}
		}
	}
}

// catchUp makes, for each schedule first seen by this process with the
// catch_up_once policy, one job for the latest tick missed since its Last
// (or its creation).
func (s *Scheduler) catchUp(ctx context.Context, scheds []Schedule, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range scheds {
		key := sc.Queue + "/" + sc.ID
		if s.seen[key] {
			continue
		}
		s.seen[key] = true
		if sc.Missed != MissedCatchUpOnce {
			continue
		}
		from := sc.Last
		if from.IsZero() {
			from = sc.Created
		}
		if from.IsZero() {
			continue
		}
		// The tick that is due right now is not missed: the loop fires it.
		if tick := sc.latest(from, now.Add(-time.Millisecond)); !tick.IsZero() {
			s.logger.Info("queue schedule: catching up a missed tick", "queue", sc.Queue, "schedule", sc.ID, "tick", tick)
			s.fire(ctx, sc, tick)
		}
	}
}

// fire asks for the tick's job; the backend makes it once.
func (s *Scheduler) fire(ctx context.Context, sc Schedule, tick time.Time) {
	j := &Job{ID: sc.TickID(tick), Queue: sc.Queue, Name: sc.Name, Payload: sc.Payload, Priority: sc.Priority,
		State: StateWaiting, Attempt: 1, MaxAttempts: sc.MaxAttempts, EnqueuedAt: s.now(), RunAt: tick,
		Timeout: time.Duration(sc.Timeout)}
	if len(j.Payload) == 0 {
		j.Payload = []byte("null")
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = s.cfg.Retry.MaxAttempts
	}
	added, err := s.store.EnqueueTick(ctx, sc.Queue, sc.ID, tick, NewRecord{Job: j, Unique: true})
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		s.logger.Error("queue schedule: tick not enqueued", "queue", sc.Queue, "schedule", sc.ID, "tick", tick, "error", err)
	case added:
		s.logger.Debug("queue schedule: tick enqueued", "queue", sc.Queue, "schedule", sc.ID, "job", j.ID)
	}
}
