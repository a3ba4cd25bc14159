package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Aggregator counts events with group commit: handlers add their job to the
// current batch and wait until a flush containing it has committed, so a
// job is acked only once it is counted (no loss on a crash), while one
// transaction serves many jobs. A batch is flushed when it holds MaxBatch
// jobs or MaxWait has passed since its first job.
type Aggregator struct {
	store    *Store
	maxBatch int
	maxWait  time.Duration
	log      *slog.Logger

	// commit serialises batch writes: while one commits, the next batch
	// fills (group commit), and two batches never contend for the same
	// aggregate rows.
	commit sync.Mutex

	mu      sync.Mutex
	pending []counted
	waiters []chan error
	timer   *time.Timer
}

// NewAggregator returns an Aggregator.
func NewAggregator(store *Store, maxBatch int, maxWait time.Duration, log *slog.Logger) *Aggregator {
	return &Aggregator{store: store, maxBatch: maxBatch, maxWait: maxWait, log: log.With("module", "analytics")}
}

// Handle is the queue handler: it waits for its job's batch to commit.
func (a *Aggregator) Handle(ctx context.Context, job *queue.Job) error {
	var ev Event
	if err := json.Unmarshal(job.Payload, &ev); err != nil || !ValidEvent(ev.Event) {
		return queue.Permanent(fmt.Errorf("%w: %s", ErrInvalidEvent, job.Payload))
	}
	at := ev.At
	if at.IsZero() {
		at = job.EnqueuedAt
	}
	done := make(chan error, 1)
	a.mu.Lock()
	a.pending = append(a.pending, counted{jobID: job.ID, event: ev.Event, day: at.UTC().Format(time.DateOnly)})
	a.waiters = append(a.waiters, done)
	switch {
	case len(a.pending) >= a.maxBatch:
		a.flushLocked()
	case a.timer == nil:
		a.timer = time.AfterFunc(a.maxWait, func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.flushLocked()
		})
	}
	a.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The batch may still commit; if it does not, the retried job is
		// counted then, and if it does, the retry is recognised as seen.
		return ctx.Err()
	}
}

// flushLocked hands the pending batch to a goroutine that commits it and
// wakes its waiters. Callers hold a.mu.
func (a *Aggregator) flushLocked() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if len(a.pending) == 0 {
		return
	}
	batch, waiters := a.pending, a.waiters
	a.pending, a.waiters = nil, nil
	go func() {
		a.commit.Lock()
		defer a.commit.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := a.store.apply(ctx, batch)
		if err != nil {
			a.log.Error("analytics batch failed; its jobs will be retried", "jobs", len(batch), "err", err)
		} else {
			a.log.Debug("analytics batch committed", "jobs", len(batch))
		}
		for _, w := range waiters {
			w <- err
		}
	}()
}

// QueueHandler registers Handle for the analytics queue.
func (a *Aggregator) QueueHandler() queue.Handler {
	return queue.Handler{Queue: Queue, Handle: a.Handle}
}
