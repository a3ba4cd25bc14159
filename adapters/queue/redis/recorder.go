package redis

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
)

// recorder writes completion records in pipelines: per flush and queue one
// HINCRBY of the completed counter, one LPUSH of the records and one LTRIM
// to retention.completed. Writing them per job would cost a round trip per
// job, the very cost the transport batches away.
//
// add never waits for Redis unless the buffer is full (backpressure on the
// handlers). A failed write is retried until it succeeds, or for 5 s once
// closing; a crash loses at most the unflushed records, which then count
// one job short (at-least-once delivery can also count a job twice).
type recorder struct {
	client goredis.UniversalClient
	keys   map[string]keys
	keep   int
	linger time.Duration
	logger *slog.Logger

	ch      chan completion
	mu      sync.RWMutex // guards closed against sends on ch
	closed  bool
	closing atomic.Bool // read by the loop, which must never take mu
	pmu     sync.Mutex
	pending map[string]int64 // queue → completions not yet written
	// flushMu is held across a write and the decrement of pending that
	// follows it, and by Stats across its read, so a batch is counted
	// either in Redis or in pending, never in both.
	flushMu sync.Mutex
	done    chan struct{}
}

type completion struct {
	Queue      string    `json:"-"`
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	FinishedAt time.Time `json:"finishedAt"`
}

func newRecorder(c goredis.UniversalClient, k map[string]keys, keep int, linger time.Duration, logger *slog.Logger) *recorder {
	r := &recorder{client: c, keys: k, keep: keep, linger: linger, logger: logger,
		ch: make(chan completion, 4096), done: make(chan struct{}), pending: map[string]int64{}}
	go r.loop()
	return r
}

func (r *recorder) count(q string, d int64) {
	r.pmu.Lock()
	r.pending[q] += d
	r.pmu.Unlock()
}

// unflushed is how many completions of q this process has not written yet.
func (r *recorder) unflushed(q string) int64 {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	return r.pending[q]
}

func (r *recorder) add(ctx context.Context, job *queue.Job) error {
	c := completion{Queue: job.Queue, ID: job.ID, Name: job.Name, FinishedAt: time.Now()}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed { // a job that finished during Close: written directly
		r.count(c.Queue, 1)
		r.write([]completion{c}, time.Now().Add(time.Second))
		return nil
	}
	r.count(c.Queue, 1)
	select {
	case r.ch <- c:
		return nil
	case <-ctx.Done():
		r.count(c.Queue, -1)
		return ctx.Err()
	}
}

func (r *recorder) loop() {
	defer close(r.done)
	batch := make([]completion, 0, 512)
	for {
		c, ok := <-r.ch
		if !ok {
			return
		}
		batch = append(batch[:0], c)
		t := time.NewTimer(r.linger)
	collect:
		for len(batch) < cap(batch) {
			select {
			case c, ok := <-r.ch:
				if !ok {
					break collect
				}
				batch = append(batch, c)
			case <-t.C:
				break collect
			}
		}
		t.Stop()
		r.write(batch, time.Time{})
	}
}

// write retries until it succeeds or the deadline (zero: until closing,
// then 5 s more) passes.
func (r *recorder) write(batch []completion, deadline time.Time) {
	per := map[string][]any{}
	for _, c := range batch {
		b, _ := json.Marshal(c)
		per[c.Queue] = append(per[c.Queue], b)
	}
	ctx := context.Background()
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		r.flushMu.Lock()
		_, err := r.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for q, recs := range per {
				k := r.keys[q]
				p.HIncrBy(ctx, k.stats, "completed", int64(len(recs)))
				if r.keep > 0 {
					p.LPush(ctx, k.completed, recs...)
					p.LTrim(ctx, k.completed, 0, int64(r.keep-1))
				}
			}
			return nil
		})
		if err == nil {
			for q, recs := range per {
				r.count(q, -int64(len(recs)))
			}
			r.flushMu.Unlock()
			return
		}
		r.flushMu.Unlock()
		r.logger.Error("queue completion records not written, retrying", "error", err, "records", len(batch))
		if deadline.IsZero() && r.isClosed() {
			deadline = time.Now().Add(5 * time.Second)
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			r.logger.Error("queue completion records dropped", "records", len(batch))
			for q, recs := range per {
				r.count(q, -int64(len(recs)))
			}
			return
		}
		time.Sleep(backoff)
	}
}

func (r *recorder) isClosed() bool { return r.closing.Load() }

func (r *recorder) close() error {
	r.closing.Store(true)
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.ch)
	}
	r.mu.Unlock()
	<-r.done
	return nil
}
