package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Subscriber is the Watermill transport of one queue in a worker process,
// over a backend's Consumer port:
//
//   - it claims jobs only for free slots (at most `slots` messages are out
//     and not yet acked or nacked, besides jobs parked by a batch handler),
//     highest priority first, so an idle worker elsewhere takes a due
//     high-priority job before this one would; a queue whose handlers all
//     take batches also claims for its batches' room (ahead);
//   - Ack settles the delivery with the Outcome the worker's middleware put
//     on the message (SetOutcome; Completed when none), Nack settles it as
//     Released (back to waiting, no attempt counted). Settlements go to the
//     backend with the next claim, in one Fetch; a failed Fetch is retried
//     with backoff, never the handler;
//   - it keeps the running deliveries alive (Consumer.Heartbeat) and
//     cancels a running job's context when an admin cancels it.
//
// Subscribe may be called once. Close stops claiming, waits up to drain
// for the messages out to be acked or nacked, settles them, and returns.
type Subscriber struct {
	c        Consumer
	queue    string
	consumer string
	slots    int
	cfg      Config
	drain    time.Duration
	logger   *slog.Logger

	// ahead is how many jobs more than its slots the subscriber may have
	// out: the room of the queue's batches (see claimAhead); 0 when some
	// handler of the queue runs jobs one by one.
	ahead int

	msgs    chan *message.Message
	done    chan finished
	parked  chan struct{}
	assign  chan *delivery
	closing chan struct{}
	stopped chan struct{}
	close   sync.Once
	started bool

	mu      sync.Mutex
	running map[*Job]*delivery
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// finished is a settled delivery; parked says its slot was freed already;
// ran is how long it was out.
type finished struct {
	st     Settlement
	parked bool
	ran    time.Duration
}

// delivery is one job out to the Router.
type delivery struct {
	job *Job
	msg *message.Message
	sub *Subscriber
	out time.Time // when it was handed to the Router
	// parked: a batch handler holds the job while its batch fills; its
	// slot was given back (see park).
	parked atomic.Bool

	handler  *Handler    // set by the context middleware
	timedOut atomic.Bool // the attempt ran past its timeout

	mu           sync.Mutex
	cancelHandle context.CancelCauseFunc
	cancelled    bool // an admin cancelled the job
}

// NewSubscriber returns the transport of queue for the consumer name, with
// slots messages out at most. drain bounds Close.
func NewSubscriber(c Consumer, queue, consumer string, slots int, cfg Config, drain time.Duration, log *slog.Logger) *Subscriber {
	s := &Subscriber{c: c, queue: queue, consumer: consumer, slots: slots, cfg: cfg, drain: drain, logger: log,
		msgs: make(chan *message.Message), done: make(chan finished, slots), parked: make(chan struct{}, slots),
		assign:  make(chan *delivery),
		closing: make(chan struct{}), stopped: make(chan struct{}), running: map[*Job]*delivery{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Subscribe starts claiming; topic is ignored (a Subscriber serves one queue).
// The messages' contexts do not derive from ctx: the Router cancels ctx
// when it starts closing, before running handlers finish; they end
// through Close.
func (s *Subscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	if s.started {
		return nil, errors.New("queue: Subscribe called twice")
	}
	s.started = true
	for range s.slots {
		s.wg.Add(1)
		go s.watch()
	}
	s.wg.Add(2)
	go s.loop()
	go s.heartbeat()
	go func() {
		select {
		case <-ctx.Done():
			s.startClosing()
		case <-s.stopped:
		}
	}()
	go s.cancellations()
	return s.msgs, nil
}

// Close stops claiming and settles what is out (see Subscriber).
func (s *Subscriber) Close() error {
	s.startClosing()
	if !s.started {
		s.cancel()
		return nil
	}
	<-s.stopped
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Subscriber) startClosing() { s.close.Do(func() { close(s.closing) }) }

// watch waits for one delivery's ack or nack at a time (one watcher per
// slot, so no goroutine is started per job).
func (s *Subscriber) watch() {
	defer s.wg.Done()
	for {
		var d *delivery
		select {
		case d = <-s.assign:
		case <-s.stopped:
			return
		}
		var st Settlement
		select {
		case <-d.msg.Acked():
			st = settlementOf(d)
		case <-d.msg.Nacked():
			st = Settlement{Job: d.job, Outcome: Released, At: time.Now()}
		case <-s.stopped:
			return // gave up at the drain deadline: the job is taken back as stalled
		}
		s.mu.Lock()
		delete(s.running, d.job)
		s.mu.Unlock()
		select {
		case s.done <- finished{st: st, parked: d.parked.Load(), ran: time.Since(d.out)}:
		case <-s.stopped:
			return
		}
	}
}

// loop claims and settles. It owns `free` and the pending settlements.
func (s *Subscriber) loop() {
	defer s.wg.Done()
	defer close(s.stopped)
	defer close(s.msgs)
	var (
		settle   []Settlement
		free     = s.slots
		idle     bool // the last claim came up short: wait for a wake-up
		waiting  bool
		pause    *time.Timer
		errDelay time.Duration
		deadline time.Time // set when closing
		lastErr  string
		out      int // delivered, not yet settled back to this loop
		// rtt is how long the last claim took, ran how long a job is out
		// (moving average); gatherUntil ends the current wait for more
		// free slots.
		rtt, ran    time.Duration
		gatherUntil time.Time
		gather      *time.Timer
	)
	took := func(f finished) { // a delivery came back settled
		settle = append(settle, f.st)
		out--
		if !f.parked {
			free++
		}
		ran += (f.ran - ran) / 8
	}
	waitDone := make(chan struct{}, 1)
	for {
		closing := isClosed(s.closing)
		if closing && deadline.IsZero() {
			deadline = time.Now().Add(s.drain)
		}
		// Collect what finished.
	collect:
		for {
			select {
			case f := <-s.done:
				took(f)
			case <-s.parked:
				free++
			default:
				break collect
			}
		}
		if closing && out == 0 && len(settle) == 0 {
			return
		}
		if closing && time.Now().After(deadline) && len(settle) == 0 {
			s.logger.Warn("queue worker stopped with jobs still running; they will be taken back as stalled",
				"queue", s.queue, "running", out)
			return
		}
		want := free
		if s.ahead > 0 {
			// Every job of the queue waits for its batch without a slot:
			// claim for the batches' room too, not only for the free
			// slots, so a claim is not limited to queue.concurrency jobs.
			want = max(free, min(s.slots+s.ahead-out, max(free, claimAhead)))
		}
		if closing || idle || pause != nil {
			want = 0
		}
		if want > 0 && want < s.slots && out > 0 && s.ahead == 0 && ran < rtt {
			// Others are still running and jobs take less than a round
			// trip: wait up to one round trip (at most maxGather) for them
			// to finish, so one call settles and claims for every slot (a
			// call's cost is mostly fixed, not per job). A free slot idles
			// at most as long as a call takes, and only for jobs shorter
			// than a call: longer ones would not finish in the wait.
			if gatherUntil.IsZero() {
				gatherUntil = time.Now().Add(min(rtt, maxGather))
			}
			if wait := time.Until(gatherUntil); wait > 0 {
				if gather == nil {
					gather = time.NewTimer(wait)
				} else {
					gather.Reset(wait) // no stale tick since Go 1.23
				}
				select {
				case f := <-s.done:
					took(f)
				case <-s.parked:
					free++
				case <-gather.C:
				case <-s.closing:
				}
				gather.Stop()
				continue
			}
		}
		gatherUntil = time.Time{}
		if len(settle) == 0 && want == 0 {
			// Nothing to send: wait for a finished job, a wake-up or the end.
			if idle && !closing && !waiting && pause == nil {
				waiting = true
				go func() {
					_ = s.c.Wait(s.ctx, s.queue, time.Second)
					waitDone <- struct{}{}
				}()
			}
			var pauseC <-chan time.Time
			if pause != nil {
				pauseC = pause.C
			}
			var drainC <-chan time.Time
			if closing {
				drainC = time.After(time.Until(deadline) + time.Millisecond)
			}
			select {
			case f := <-s.done:
				took(f)
			case <-s.parked:
				free++
			case <-waitDone:
				waiting = false
				idle = false
			case <-pauseC:
				pause = nil
			case <-s.closing:
			case <-drainC:
			}
			continue
		}
		began := time.Now()
		jobs, err := s.c.Fetch(s.ctx, FetchRequest{Queue: s.queue, Consumer: s.consumer, Settle: settle, Max: want})
		if want > 0 && err == nil {
			rtt = time.Since(began)
		}
		var held *HeldError
		switch {
		case errors.Is(err, ErrPaused):
			err, jobs = nil, nil
			pause = time.NewTimer(s.cfg.PausePoll)
		case errors.As(err, &held):
			// A rate limit: run what it let through, then sleep until it
			// lets more through (no polling).
			err = nil
			pause = time.NewTimer(min(max(time.Until(held.Until), time.Millisecond), time.Minute))
		}
		if err != nil {
			if msg := err.Error(); msg != lastErr {
				s.logger.Error("queue fetch failed; settlements kept and retried", "queue", s.queue,
					"settlements", len(settle), "error", err)
				lastErr = msg
			}
			errDelay = min(max(2*errDelay, 10*time.Millisecond), time.Second)
			select {
			case <-time.After(errDelay):
			case <-s.stopped:
			}
			if closing && time.Now().After(deadline) {
				s.logger.Error("queue worker stopped before its settlements were stored; "+
					"their jobs will be taken back as stalled", "queue", s.queue, "settlements", len(settle))
				return
			}
			continue
		}
		errDelay, lastErr = 0, ""
		settle = settle[:0]
		if want > 0 && len(jobs) < want && held == nil {
			idle = true
		}
		for _, j := range jobs {
			free--
			out++
			if !s.deliver(j) {
				out--
				// Closing before the Router took it: back to waiting unrun.
				settle = append(settle, Settlement{Job: j, Outcome: Released, At: time.Now()})
				free++
			}
		}
	}
}

// maxGather bounds how long a claim waits for the running jobs to free
// their slots (see loop). Measured at concurrency 5 with instant handlers
// over Redis: without the wait a call carried 3–4 jobs (the last jobs'
// acks were still on their way when the previous call returned), with it
// 5, and the Redis CPU per job fell by about a quarter.
const maxGather = time.Millisecond

// claimAhead is the most jobs one claim takes for batches' room: enough to
// fill a batch in a few round trips, few enough that one claim script
// stays short (it blocks Redis while it runs).
const claimAhead = 100

// deliver hands one job to a watcher and the Router; false when the
// subscriber closed first.
func (s *Subscriber) deliver(j *Job) bool {
	msg := message.NewMessage(j.ID, message.Payload(j.Payload))
	d := &delivery{job: j, msg: msg, sub: s, out: time.Now()}
	j.reporter = s
	msg.SetContext(context.WithValue(s.ctx, deliveryKey{}, d))
	s.mu.Lock()
	s.running[j] = d
	s.mu.Unlock()
	select {
	case s.msgs <- msg:
		select {
		case s.assign <- d:
		default:
			// Every watcher waits on a delivery (parked batch jobs keep
			// theirs): one more watcher, which stays.
			s.wg.Add(1)
			go s.watch()
			s.assign <- d
		}
		return true
	case <-s.closing:
		s.mu.Lock()
		delete(s.running, j)
		s.mu.Unlock()
		return false
	}
}

// park gives a delivery's slot back while a batch handler holds the job
// (its batch is filling): the subscriber may claim another job for the
// slot. The delivery is still settled when its message is acked.
func (d *delivery) park() {
	if d.parked.CompareAndSwap(false, true) {
		d.sub.parked <- struct{}{}
	}
}

// heartbeat keeps the running deliveries alive and cancels the ones an
// admin cancelled.
func (s *Subscriber) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		s.mu.Lock()
		jobs := make([]*Job, 0, len(s.running))
		for j := range s.running {
			jobs = append(jobs, j)
		}
		s.mu.Unlock()
		if len(jobs) == 0 {
			continue
		}
		ids, err := s.c.Heartbeat(s.ctx, s.queue, s.consumer, jobs)
		if err != nil {
			s.logger.Warn("queue heartbeat failed", "queue", s.queue, "error", err)
			continue
		}
		for _, id := range ids {
			s.cancelJob(id)
		}
	}
}

// cancellations cancels the jobs a CancelNotifier backend names as soon as
// it does (without one, Heartbeat's answers are all there is).
func (s *Subscriber) cancellations() {
	n, ok := s.c.(CancelNotifier)
	if !ok {
		return
	}
	for id := range n.Cancellations(s.ctx, s.queue) {
		s.cancelJob(id)
	}
}

// ErrCancelled is the cause (context.Cause) of a handler's context ended
// by an admin's cancel: the job ends cancelled and is not retried, so a
// handler that records its own outcome records it as final.
var ErrCancelled = errors.New("queue: job cancelled")

func (s *Subscriber) cancelJob(id string) {
	s.mu.Lock()
	var ds []*delivery
	for j, d := range s.running {
		if j.ID == id {
			ds = append(ds, d)
		}
	}
	s.mu.Unlock()
	for _, d := range ds {
		d.mu.Lock()
		d.cancelled = true
		if d.cancelHandle != nil {
			d.cancelHandle(ErrCancelled)
		}
		d.mu.Unlock()
	}
}

// setCancel registers the handler context's cancel function; it runs at
// once if the job was cancelled already.
func (d *delivery) setCancel(c context.CancelCauseFunc) {
	d.mu.Lock()
	d.cancelHandle = c
	if d.cancelled {
		c(ErrCancelled)
	}
	d.mu.Unlock()
}

func (d *delivery) isCancelled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancelled
}

func (s *Subscriber) reportProgress(ctx context.Context, j *Job, pct int) error {
	return s.c.Report(ctx, j, Report{Progress: &pct})
}

func (s *Subscriber) appendLog(ctx context.Context, j *Job, line string) error {
	if n := s.cfg.Logs.MaxBytes; len(line) > n {
		line = line[:n]
	}
	return s.c.Report(ctx, j, Report{Log: &LogLine{At: time.Now(), Message: line}})
}

type deliveryKey struct{}

func deliveryFrom(ctx context.Context) *delivery {
	d, _ := ctx.Value(deliveryKey{}).(*delivery)
	return d
}

type outcomeKey struct{}

// SetOutcome records on msg what became of its job, for the transport to
// settle when msg is acked.
func SetOutcome(msg *message.Message, st Settlement) {
	msg.SetContext(context.WithValue(msg.Context(), outcomeKey{}, st))
}

func settlementOf(d *delivery) Settlement {
	if st, ok := d.msg.Context().Value(outcomeKey{}).(Settlement); ok {
		st.Job = d.job
		return st
	}
	st := Settlement{Job: d.job, Outcome: Completed, At: time.Now()}
	return st
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
