package notification

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// CancelSweep finishes the deliveries of channel jobs an admin cancelled
// before they ran: a waiting or delayed job (held by quiet hours or a
// retry's backoff) that is cancelled never reaches its Runner, so nothing
// else would move its delivery on from pending. Each sweep reads the
// newest cancelled jobs of every channel queue (Store.Jobs, a listing
// every queue driver keeps, newest first) and records their pending
// deliveries skipped, detail "cancelled".
//
// It reads the queue's state, not its event stream: a poll of the
// cancelled listing costs one small read per channel queue whatever the
// queue's traffic, where following the events would read every transition
// of every channel job to find the rare cancel, and the event history is
// bounded by traffic, so a process that was down would need this listing
// anyway. The listing is bounded too (queue.retention.completed), but
// only by cancels. The first sweep of a process reads the whole listing
// (what was cancelled while no worker ran); later ones stop at the jobs
// older than the newest seen, less a minute for the clocks of the
// processes that cancelled.
//
// Every worker process runs one; their writes are idempotent: only a
// pending delivery becomes skipped, so one the Runner recorded sent,
// failed or skipped stays as it is, and a sweep that runs twice changes
// nothing the second time. A job cancelled and retried meanwhile may be
// recorded skipped while it waits again; its Runner still delivers it
// (see Delivery.Done) and records the outcome.
type CancelSweep struct {
	store   *Store
	jobs    queue.Store
	chans   []Channel
	metrics *Metrics
	log     *slog.Logger
	// Every is the pause between sweeps (default 2 s).
	Every time.Duration

	seen map[string]*sweptQueue // by queue
}

// sweptQueue is what earlier sweeps of one queue saw.
type sweptQueue struct {
	since time.Time            // jobs cancelled before were seen (zero: none yet)
	done  map[string]time.Time // jobs cancelled since `since`, already handled: their cancel time
}

// cancelSlack is how far before the newest cancel seen a sweep still
// reads: a job cancelled by a process whose clock is behind is listed
// with an earlier time.
const cancelSlack = time.Minute

// NewCancelSweep returns the sweep of chans' queues. metrics may be nil.
func NewCancelSweep(store *Store, jobs queue.Store, chans []Channel, metrics *Metrics, log *slog.Logger) *CancelSweep {
	if metrics == nil {
		metrics, _ = NewMetrics(nil)
	}
	return &CancelSweep{store: store, jobs: jobs, chans: chans, metrics: metrics, Every: 2 * time.Second,
		log: log.With("module", "notification"), seen: map[string]*sweptQueue{}}
}

// Run sweeps at once, then every Every, until ctx ends. A failed sweep is
// logged and tried again at the next one (it returns only when ctx ends).
func (c *CancelSweep) Run(ctx context.Context) error {
	t := time.NewTicker(c.Every)
	defer t.Stop()
	failing := false
	for {
		if _, err := c.Sweep(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				c.log.WarnContext(ctx, "sweeping cancelled channel jobs failed; retrying", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep records the pending deliveries of the channel jobs cancelled since
// the last sweep skipped, and returns how many it changed. Not safe for
// concurrent use.
func (c *CancelSweep) Sweep(ctx context.Context) (int, error) {
	total := 0
	var errs []error
	for _, ch := range c.chans {
		n, err := c.sweep(ctx, ch)
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// Pages of the cancelled listing: a small first one (most sweeps find
// nothing new), larger ones after.
const (
	sweepFirstPage = 20
	sweepPage      = 500
)

func (c *CancelSweep) sweep(ctx context.Context, ch Channel) (int, error) {
	q := ch.Queue()
	st := c.seen[q]
	if st == nil {
		st = &sweptQueue{done: map[string]time.Time{}}
		c.seen[q] = st
	}
	fresh := map[string]time.Time{}
	newest := st.since
	n := 0
	query := queue.JobQuery{State: queue.StateCancelled, Limit: sweepFirstPage}
	for {
		page, err := c.jobs.Jobs(ctx, q, query)
		if err != nil {
			return n, err
		}
		var ids []int64
		older := false
		for _, j := range page.Jobs {
			if j.FinishedAt.Before(st.since) {
				older = true
				break
			}
			if j.FinishedAt.After(newest) {
				newest = j.FinishedAt
			}
			if at, ok := st.done[j.ID]; ok && at.Equal(j.FinishedAt) {
				continue
			}
			fresh[j.ID] = j.FinishedAt
			var p channelPayload
			if j.Name == ChannelJob && j.Decode(&p) == nil && p.ID > 0 {
				ids = append(ids, p.ID)
			}
		}
		// One statement per page: a page's ids fit in one statement's
		// parameters, a whole listing (the first sweep) may not.
		if len(ids) > 0 {
			k, err := c.store.SkipCancelled(ctx, ch.Name(), ids)
			if err != nil {
				return n, err // nothing marked done: the next sweep reads these again
			}
			n += k
			c.metrics.deliveries.WithLabelValues(ch.Name(), StateSkipped).Add(float64(k))
		}
		if older || page.Next == "" {
			break
		}
		query.Cursor, query.Limit = page.Next, sweepPage
	}
	if n > 0 {
		c.log.InfoContext(ctx, "cancelled channel jobs: deliveries recorded skipped", "channel", ch.Name(), "deliveries", n)
	}
	for id, at := range fresh {
		st.done[id] = at
	}
	if since := newest.Add(-cancelSlack); since.After(st.since) {
		st.since = since
	}
	for id, at := range st.done {
		if at.Before(st.since) {
			delete(st.done, id)
		}
	}
	return n, nil
}
