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

// Aggregator counts events in batches: the queue hands it up to MaxBatch
// event jobs at once (a batch handler: jobs waiting for their batch hold
// no worker slot) and it writes them in one transaction, so a job is
// settled only once it is counted (no loss on a crash) while one commit
// serves many jobs. A job whose payload is not an event fails alone.
type Aggregator struct {
	store    *Store
	maxBatch int
	maxWait  time.Duration
	log      *slog.Logger

	// commit serialises batch writes: two batches never contend for the
	// same aggregate rows (on PostgreSQL they could deadlock).
	commit sync.Mutex
}

// NewAggregator returns an Aggregator.
func NewAggregator(store *Store, maxBatch int, maxWait time.Duration, log *slog.Logger) *Aggregator {
	return &Aggregator{store: store, maxBatch: maxBatch, maxWait: maxWait, log: log.With("module", "analytics")}
}

// HandleBatch counts a batch of event jobs: one error per job.
func (a *Aggregator) HandleBatch(ctx context.Context, jobs []*queue.Job) []error {
	errs := make([]error, len(jobs))
	batch := make([]counted, 0, len(jobs))
	idx := make([]int, 0, len(jobs))
	for i, job := range jobs {
		var ev Event
		if err := json.Unmarshal(job.Payload, &ev); err != nil || !ValidEvent(ev.Event) {
			errs[i] = queue.Permanent(fmt.Errorf("%w: %s", ErrInvalidEvent, job.Payload))
			continue
		}
		at := ev.At
		if at.IsZero() {
			at = job.EnqueuedAt
		}
		batch = append(batch, counted{jobID: job.ID, event: ev.Event, day: at.UTC().Format(time.DateOnly)})
		idx = append(idx, i)
	}
	if len(batch) == 0 {
		return errs
	}
	a.commit.Lock()
	err := a.store.apply(ctx, batch)
	a.commit.Unlock()
	if err != nil {
		a.log.Error("analytics batch failed; its jobs will be retried", "jobs", len(batch), "err", err)
		for _, i := range idx {
			errs[i] = err
		}
	} else {
		a.log.Debug("analytics batch committed", "jobs", len(batch))
	}
	return errs
}

// QueueHandler registers the aggregator as the batch handler of the
// analytics queue's event jobs.
func (a *Aggregator) QueueHandler() queue.Handler {
	return queue.BatchHandler{Queue: Queue, Name: JobName, MaxSize: a.maxBatch, MaxWait: a.maxWait,
		Handle: a.HandleBatch}.Handler()
}
