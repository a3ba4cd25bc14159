package memory

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// DedupWindow is how long a WithJobID id is remembered for deduplication
// after its record is gone.
const DedupWindow = 24 * time.Hour

// Backend is the in-process queue.Backend of the embedded profile. Every
// job is a record in a map with one state; per queue it keeps a FIFO per
// priority, a heap of delayed jobs, the finished jobs within retention,
// per-minute counts and a bounded event history. A job whose worker stops
// heartbeating for ten heartbeats is taken back as stalled. Everything is
// lost when the process ends, and it cannot be shared between processes.
// Safe for concurrent use: one mutex guards every queue.
type Backend struct {
	cfg    queue.Config
	obs    queue.Observer
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	queues  map[string]*qstate
	closed  bool
	cancels queue.CancelHub
	wake    chan struct{} // pokes the background loop
	done    chan struct{}
	wg      sync.WaitGroup
}

var (
	_ queue.Backend        = (*Backend)(nil)
	_ queue.CancelNotifier = (*Backend)(nil)
	_ queue.Pinger         = (*Backend)(nil)
	_ io.Closer            = (*Backend)(nil)
)

// New returns a running backend for cfg's queues; obs (nil: none) counts
// retention drops. Close stops it.
func New(cfg queue.Config, obs queue.Observer, logger *slog.Logger) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memory: queue config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{cfg: cfg, obs: obs, logger: logger, now: time.Now, queues: map[string]*qstate{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	limits := cfg.QueueLimits()
	for _, q := range cfg.Queues {
		b.queues[q] = newQState(q, cfg)
		b.queues[q].limit = limits[q]
	}
	b.wg.Add(1)
	go b.background()
	return b, nil
}

func (b *Backend) state(q string) (*qstate, error) {
	if b.closed {
		return nil, queue.ErrClosed
	}
	s, ok := b.queues[q]
	if !ok {
		return nil, fmt.Errorf("%w: %q", queue.ErrQueueNotFound, q)
	}
	return s, nil
}

func (b *Backend) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Enqueue stores the jobs.
func (b *Backend) Enqueue(ctx context.Context, q string, jobs []queue.NewRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return err
	}
	now := b.now()
	delayed := false
	for _, nr := range jobs {
		j := clone(nr.Job)
		if nr.Unique {
			if _, ok := s.jobs[j.ID]; ok {
				continue
			}
			if until, ok := s.dedup[j.ID]; ok && now.Before(until) {
				continue
			}
			s.remember(j.ID, now)
		}
		if _, exists := s.jobs[j.ID]; exists {
			return fmt.Errorf("memory: job id %q exists in %s", j.ID, q)
		}
		s.jobs[j.ID] = j
		if j.RunAt.After(now) {
			s.delay(j)
			delayed = true
		} else {
			j.State = queue.StateWaiting
			s.push(j)
		}
		s.event(j, now, nil)
	}
	if delayed {
		b.poke()
	}
	return nil
}

// Fetch settles req.Settle, then claims up to req.Max waiting jobs.
func (b *Backend) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(req.Queue)
	if err != nil {
		return nil, err
	}
	now := b.now()
	for _, st := range req.Settle {
		s.settle(b, st, now)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.paused {
		return nil, queue.ErrPaused
	}
	want, until := s.allowance(req.Max, now)
	if want == 0 && req.Max > 0 {
		return nil, &queue.HeldError{Until: until}
	}
	var out []*queue.Job
	var blocked time.Time
	for len(out) < want {
		j, until := s.pop(now)
		if j == nil {
			blocked = until
			break
		}
		s.count[queue.StateWaiting]--
		s.deliveries++
		j.State, j.StartedAt, j.Percent = queue.StateActive, now, 0
		j.Delivery = strconv.FormatUint(s.deliveries, 10)
		s.count[queue.StateActive]++
		s.active[j.ID] = &lease{job: j, owner: req.Consumer, seen: now}
		s.event(j, now, nil)
		out = append(out, clone(j))
	}
	if unused := want - len(out); unused > 0 && s.limit.Max > 0 {
		step, _ := s.limit.Spacing()
		s.tat = s.tat.Add(-time.Duration(unused) * step) // give back the slots not used
	}
	if s.limit.Max > 0 && want < req.Max && len(out) == want {
		// The limit cut this claim short: the next may start at its next slot.
		_, tol := s.limit.Spacing()
		return out, &queue.HeldError{Until: s.tat.Add(-tol)}
	}
	if !blocked.IsZero() {
		// Jobs wait only behind their groups' limits: come back then.
		return out, &queue.HeldError{Until: blocked}
	}
	return out, nil
}

// Wait returns when a job may be due, d passes or ctx ends.
func (b *Backend) Wait(ctx context.Context, q string, d time.Duration) error {
	b.mu.Lock()
	s, err := b.state(q)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	if s.count[queue.StateWaiting] > 0 && !s.paused && s.ready(b.now()) {
		b.mu.Unlock()
		return nil
	}
	ch := s.waiters
	b.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Heartbeat renews the running deliveries and reports the cancelled ones.
func (b *Backend) Heartbeat(_ context.Context, q, _ string, running []*queue.Job) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return nil, err
	}
	now := b.now()
	var cancel []string
	for _, j := range running {
		if l, ok := s.active[j.ID]; ok && l.job.Delivery == j.Delivery {
			l.seen = now
			if l.cancel {
				cancel = append(cancel, j.ID)
			}
		}
	}
	return cancel, nil
}

// Cancellations delivers cancel requests for active jobs of q.
func (b *Backend) Cancellations(ctx context.Context, q string) <-chan string {
	b.mu.Lock()
	_, err := b.state(q)
	b.mu.Unlock()
	if err != nil {
		ch := make(chan string)
		close(ch)
		return ch
	}
	return b.cancels.Subscribe(ctx, b.done, q)
}

// Report sets an active delivery's progress and adds its log line.
func (b *Backend) Report(_ context.Context, job *queue.Job, r queue.Report) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(job.Queue)
	if err != nil {
		return err
	}
	l, ok := s.active[job.ID]
	if !ok || l.job.Delivery != job.Delivery {
		return nil
	}
	if r.Progress != nil {
		l.job.Percent = *r.Progress
		s.event(l.job, b.now(), r.Progress)
	}
	if r.Log != nil && b.cfg.Logs.MaxLines > 0 {
		logs := append(s.logs[job.ID], *r.Log)
		if over := len(logs) - b.cfg.Logs.MaxLines; over > 0 {
			logs = append([]queue.LogLine(nil), logs[over:]...)
		}
		s.logs[job.ID] = logs
	}
	return nil
}

// background promotes delayed jobs when due, takes back stalled ones and
// drops dead letters past their age.
func (b *Backend) background() {
	defer b.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sweep := time.NewTicker(b.cfg.Heartbeat)
	defer sweep.Stop()
	for {
		b.mu.Lock()
		now := b.now()
		next := now.Add(time.Hour)
		for _, s := range b.queues {
			if at, ok := s.promote(now); ok && at.Before(next) {
				next = at
			}
		}
		b.mu.Unlock()
		timer.Reset(next.Sub(now))
		select {
		case <-timer.C:
		case <-b.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-sweep.C:
			b.mu.Lock()
			now := b.now()
			for _, s := range b.queues {
				s.reclaim(b, now, 10*b.cfg.Heartbeat)
				s.expire(b, now)
			}
			b.mu.Unlock()
		case <-b.done:
			return
		}
	}
}

// Ping succeeds while the backend is open.
func (b *Backend) Ping(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return queue.ErrClosed
	}
	return nil
}

// Close stops the background work; stored jobs are dropped.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	for _, s := range b.queues {
		close(s.waiters)
		close(s.eventsWake)
		s.waiters, s.eventsWake = make(chan struct{}), make(chan struct{})
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// clone copies a record for a caller (the backend keeps its own).
func clone(j *queue.Job) *queue.Job {
	c := *j
	c.Logs = nil
	return &c
}
