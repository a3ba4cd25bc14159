package memory

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tipbox/tipbox/core/queue"
)

// DedupWindow is how long a WithJobID id is remembered for deduplication.
const DedupWindow = 24 * time.Hour

// Backend is the in-process queue.Backend of the embedded profile: a
// Broker for waiting jobs (one topic per queue and priority), a timer heap
// for delayed jobs and retries, and in-memory counters, retention records
// and dead-letter stores. Everything is lost when the process ends, and it
// cannot be shared between processes. Safe for concurrent use.
type Backend struct {
	cfg    queue.Config
	broker *Broker
	pub    *PubSub
	now    func() time.Time

	mu      sync.Mutex
	queues  map[string]*state
	delayed delayHeap
	wake    chan struct{}
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup
}

type state struct {
	completed, failed int64
	recent            []string // retention records of completed job ids (ring)
	recentAt          int
	dead              map[string]queue.DeadLetter
	deadOrder         []string // oldest first
	paused            bool
	seen              map[string]time.Time // dedup id → forget after
	delayed           int64
}

var _ queue.Backend = (*Backend)(nil)

// New returns a running backend for cfg's queues. Close stops it.
func New(cfg queue.Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memory: queue config: %w", err)
	}
	b := &Backend{cfg: cfg, broker: NewBroker(), now: time.Now, queues: map[string]*state{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.pub = NewPubSub(b.broker, 1)
	for _, q := range cfg.Queues {
		b.queues[q] = &state{dead: map[string]queue.DeadLetter{}, seen: map[string]time.Time{}}
	}
	b.wg.Add(1)
	go b.promote()
	return b, nil
}

func (b *Backend) state(q string) (*state, error) {
	s, ok := b.queues[q]
	if !ok {
		return nil, fmt.Errorf("%w: %q", queue.ErrQueueNotFound, q)
	}
	return s, nil
}

// Topic is "<queue>.<priority>".
func (b *Backend) Topic(q string, p queue.Priority) string { return q + "." + p.String() }

// Subscriber returns a subscription source keeping inFlight messages per topic.
func (b *Backend) Subscriber(_ string, inFlight int) (message.Subscriber, error) {
	return NewPubSub(b.broker, inFlight), nil
}

// Enqueue stores the jobs: due ones at the tail of their priority topic,
// others in the delayed heap.
func (b *Backend) Enqueue(_ context.Context, q string, jobs []queue.Scheduled) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return queue.ErrClosed
	}
	s, err := b.state(q)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	now := b.now()
	var due [3][]*message.Message
	for _, j := range jobs {
		if j.Dedup {
			if until, ok := s.seen[j.Job.ID]; ok && now.Before(until) {
				continue
			}
			b.remember(s, j.Job.ID, now)
		}
		if !j.RunAt.IsZero() && j.RunAt.After(now) {
			b.schedule(s, q, j.Job.ID, j.Job.Priority, j.Body, j.RunAt)
			continue
		}
		i := prioIndex(j.Job.Priority)
		due[i] = append(due[i], message.NewMessage(j.Job.ID, j.Body))
	}
	b.mu.Unlock()
	for i, msgs := range due {
		if len(msgs) > 0 {
			if err := b.pub.Publish(b.Topic(q, queue.Priorities[i]), msgs...); err != nil {
				return err
			}
		}
	}
	return nil
}

func prioIndex(p queue.Priority) int {
	for i, q := range queue.Priorities {
		if q == p {
			return i
		}
	}
	return 1
}

func (b *Backend) remember(s *state, id string, now time.Time) {
	if len(s.seen) >= 1024 && len(s.seen)%1024 == 0 {
		for k, until := range s.seen {
			if !now.Before(until) {
				delete(s.seen, k)
			}
		}
	}
	s.seen[id] = now.Add(DedupWindow)
}

// schedule must be called with b.mu held.
func (b *Backend) schedule(s *state, q, id string, p queue.Priority, body []byte, at time.Time) {
	heap.Push(&b.delayed, delayed{at: at, queue: q, id: id, prio: p, body: body})
	s.delayed++
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Complete counts the job and keeps its id among the last
// retention.completed records.
func (b *Backend) Complete(_ context.Context, job *queue.Job) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(job.Queue)
	if err != nil {
		return err
	}
	s.completed++
	if n := b.cfg.Retention.Completed; n > 0 {
		if len(s.recent) < n {
			s.recent = append(s.recent, job.ID)
		} else {
			s.recent[s.recentAt] = job.ID
			s.recentAt = (s.recentAt + 1) % n
		}
	}
	return nil
}

// Reschedule puts the job's next attempt in the delayed heap.
func (b *Backend) Reschedule(_ context.Context, job *queue.Job, body []byte, at time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return queue.ErrClosed
	}
	s, err := b.state(job.Queue)
	if err != nil {
		return err
	}
	b.schedule(s, job.Queue, job.ID, job.Priority, body, at)
	return nil
}

// Bury stores the dead letter, keeping the newest retention.failed.
func (b *Backend) Bury(_ context.Context, q string, d queue.DeadLetter) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return err
	}
	s.failed++
	if _, exists := s.dead[d.ID]; exists {
		s.deadOrder = without(s.deadOrder, d.ID)
	}
	s.dead[d.ID] = d
	s.deadOrder = append(s.deadOrder, d.ID)
	for len(s.deadOrder) > b.cfg.Retention.Failed {
		delete(s.dead, s.deadOrder[0])
		s.deadOrder = s.deadOrder[1:]
	}
	return nil
}

func without(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// Stats counts waiting and active messages from the broker.
func (b *Backend) Stats(_ context.Context, q string) (queue.Stats, error) {
	b.mu.Lock()
	s, err := b.state(q)
	if err != nil {
		b.mu.Unlock()
		return queue.Stats{}, err
	}
	st := queue.Stats{Name: q, Completed: s.completed, Failed: s.failed, Delayed: s.delayed, Paused: s.paused}
	b.mu.Unlock()
	for _, p := range queue.Priorities {
		r, f := b.broker.Counts(b.Topic(q, p))
		st.Waiting += int64(r)
		st.Active += int64(f)
	}
	return st, nil
}

// Failed lists dead letters newest first.
func (b *Backend) Failed(_ context.Context, q string, limit int) ([]queue.FailedJob, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.state(q)
	if err != nil {
		return nil, err
	}
	out := []queue.FailedJob{}
	for i := len(s.deadOrder) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.dead[s.deadOrder[i]].FailedJob())
	}
	return out, nil
}

// RetryFailed moves a dead letter back to waiting, attempt 1.
func (b *Backend) RetryFailed(_ context.Context, q, id string) error {
	b.mu.Lock()
	s, err := b.state(q)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	d, ok := s.dead[id]
	if !ok {
		b.mu.Unlock()
		return fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	job, body, err := d.Revive(b.now())
	if err != nil {
		b.mu.Unlock()
		return err
	}
	delete(s.dead, id)
	s.deadOrder = without(s.deadOrder, id)
	b.mu.Unlock()
	return b.pub.Publish(b.Topic(q, job.Priority), message.NewMessage(job.ID, body))
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

// Run has nothing to do: the backend promotes delayed jobs itself.
func (b *Backend) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Ping always succeeds while the backend is open.
func (b *Backend) Ping(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return queue.ErrClosed
	}
	return nil
}

// Close stops the delayed-job timer. Jobs still stored are dropped.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	b.mu.Unlock()
	b.wg.Wait()
	return b.pub.Close()
}
