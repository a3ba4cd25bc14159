package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// BatchFunc runs a batch of jobs and returns one error per job, in order
// (nil: that job is done). Each job is settled on its own: one bad job
// fails (and is retried or dead-lettered) alone.
type BatchFunc func(ctx context.Context, jobs []*Job) []error

// Batch makes a Handler take its jobs in batches: up to MaxSize at once,
// waiting at most MaxWait after the first for the batch to fill. Jobs
// waiting for their batch hold no worker slot (the worker claims more for
// the free slots), so a batch fills however small queue.concurrency is;
// at most concurrency batches run at once.
type Batch struct {
	MaxSize int
	MaxWait time.Duration
	Handle  BatchFunc
}

// BatchHandler is a handler that takes its jobs in batches (Handler with
// Batch set): the shape modules write.
type BatchHandler struct {
	Queue, Name string
	MaxSize     int
	MaxWait     time.Duration
	Handle      BatchFunc
	// Timeout bounds each batch run, not the wait for the batch (0:
	// queue.job_timeout): every job of a batch that ran past it fails with
	// ErrTimeout, whatever Handle answered for it. Retry is the jobs'
	// retry policy (nil: the queue's).
	Timeout time.Duration
	Retry   *RetryPolicy
}

// Handler returns b as a Handler (for AsHandler).
func (b BatchHandler) Handler() Handler {
	return Handler{Queue: b.Queue, Name: b.Name, Timeout: b.Timeout, Retry: b.Retry,
		Batch: &Batch{MaxSize: b.MaxSize, MaxWait: b.MaxWait, Handle: b.Handle}}
}

func (b *Batch) validate() error {
	switch {
	case b.Handle == nil:
		return errors.New("batch has no Handle func")
	case b.MaxSize < 1 || b.MaxSize > 10000:
		return fmt.Errorf("batch max size %d is not between 1 and 10000", b.MaxSize)
	case b.MaxWait <= 0:
		return fmt.Errorf("batch max wait %s must be positive", b.MaxWait)
	}
	return nil
}

// batcher gathers one batch handler's jobs. Each job's Router call waits
// in submit for its batch's result; while it waits its slot is parked
// (given back), up to twice MaxSize jobs, past which submit holds its slot
// (back-pressure when the handler falls behind).
type batcher struct {
	w       *Worker
	h       *Handler
	spec    *Batch
	runs    chan struct{} // running batches, at most concurrency
	mu      sync.Mutex
	cur     *batchRun
	parked  int
	timeout time.Duration
}

type batchRun struct {
	items []*batchItem
	timer *time.Timer
	once  sync.Once
}

type batchItem struct {
	job    *Job
	d      *delivery
	parked bool
	done   chan error
}

// parkLimit is how many of a batch handler's jobs may wait for their
// batch without a slot: a batch filling and one as large running.
func parkLimit(b *Batch) int { return 2 * b.MaxSize }

func newBatcher(w *Worker, h *Handler) *batcher {
	t := h.Timeout
	if t == 0 {
		t = w.cfg.JobTimeout
	}
	return &batcher{w: w, h: h, spec: h.Batch, runs: make(chan struct{}, w.cfg.Concurrency), timeout: t}
}

// submit adds the delivery's job to the filling batch and returns its
// result once the batch ran.
func (b *batcher) submit(d *delivery) error {
	it := &batchItem{job: d.job, d: d, done: make(chan error, 1)}
	b.mu.Lock()
	if b.cur == nil {
		r := &batchRun{}
		r.timer = time.AfterFunc(b.spec.MaxWait, func() { b.flush(r) })
		b.cur = r
	}
	r := b.cur
	r.items = append(r.items, it)
	if b.parked < parkLimit(b.spec) {
		b.parked++
		it.parked = true
	}
	// A stopping worker runs what it has at once.
	full := len(r.items) >= b.spec.MaxSize || b.w.stopping.Load()
	if full {
		b.cur = nil
	}
	b.mu.Unlock()
	if it.parked {
		d.park()
	}
	if full {
		r.timer.Stop()
		b.start(r)
	}
	return <-it.done
}

// flushNow runs the filling batch at once (the worker is stopping).
func (b *batcher) flushNow() {
	b.mu.Lock()
	r := b.cur
	b.cur = nil
	b.mu.Unlock()
	if r != nil {
		r.timer.Stop()
		b.start(r)
	}
}

// flush runs a batch whose wait ran out.
func (b *batcher) flush(r *batchRun) {
	b.mu.Lock()
	if b.cur == r {
		b.cur = nil
	}
	b.mu.Unlock()
	b.start(r)
}

func (b *batcher) start(r *batchRun) {
	r.once.Do(func() { go b.run(r) })
}

func (b *batcher) run(r *batchRun) {
	b.runs <- struct{}{}
	defer func() { <-b.runs }()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := context.AfterFunc(b.w.abort, func() { cancel(context.Canceled) })
	defer stop()
	if b.timeout > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, b.timeout, ErrTimeout)
		defer c()
		overrun := time.AfterFunc(b.timeout+overrunGrace, func() {
			// The line first: whoever sees the count finds the line.
			b.w.logger.LogAttrs(context.Background(), slog.LevelWarn,
				"batch handler still running past its timeout: it ignores its context; its slot stays taken until it returns",
				slog.String("queue", b.h.Queue), slog.String("job", b.h.Name), slog.Int("jobs", len(r.items)),
				slog.Duration("timeout", b.timeout))
			b.w.metrics.queue(b.h.Queue).overruns.Add(float64(len(r.items)))
		})
		defer overrun.Stop()
	}
	jobs := make([]*Job, len(r.items))
	for i, it := range r.items {
		jobs[i] = it.job
	}
	started := time.Now()
	errs := b.call(ctx, jobs)
	ran := time.Since(started)
	timedOut := context.Cause(ctx) == ErrTimeout
	b.mu.Lock()
	for _, it := range r.items {
		if it.parked {
			b.parked--
		}
	}
	b.mu.Unlock()
	// The batch's run is each of its jobs' attempt: one that ran past its
	// timeout (the batch's, or a job's own shorter or longer one) failed,
	// whatever the handler answered for it.
	for i, it := range r.items {
		if timedOut || it.job.Timeout > 0 && ran > it.job.Timeout {
			it.d.timedOut.Store(true)
		}
		it.done <- errs[i]
	}
}

// call runs the batch function, recovering a panic and checking the
// answer's length: either fails every job of the batch.
func (b *batcher) call(ctx context.Context, jobs []*Job) (errs []error) {
	defer func() {
		if p := recover(); p != nil {
			b.w.logger.LogAttrs(ctx, slog.LevelError, "batch handler panicked", slog.String("queue", b.h.Queue),
				slog.Int("jobs", len(jobs)), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			errs = fill(len(jobs), fmt.Errorf("queue: batch handler panicked: %v", p))
		}
	}()
	errs = b.spec.Handle(ctx, jobs)
	if len(errs) != len(jobs) {
		return fill(len(jobs), fmt.Errorf("queue: batch handler returned %d results for %d jobs", len(errs), len(jobs)))
	}
	return errs
}

func fill(n int, err error) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}
