package postgres

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Run does a worker process's share of the background work until ctx
// ends; every process may run it at once (row locks are skipped, not
// waited for). Every queue.heartbeat it takes back stalled deliveries,
// applies retention.completed (dead letters are trimmed as they die),
// marks due delayed jobs waiting, and every ten it trims the event
// history; every minute it drops dead letters past retention.failed_age,
// minute counts past a day, expired dedup entries and idle groups. Errors
// are logged once and retried at the next tick.
func (b *Backend) Run(ctx context.Context) error {
	tick := time.NewTicker(b.cfg.Heartbeat)
	defer tick.Stop()
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
	var lastErr string
	ticks := 0
	report := func(what string, err error) {
		if err != nil && err.Error() != lastErr && ctx.Err() == nil {
			b.logger.Error("queue background "+what+" failed", "error", err)
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
	}
	b.housekeeping(ctx, report)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.done:
			return nil
		case <-tick.C:
			ticks++
			for _, q := range b.cfg.Queues {
				report("stall check", b.reclaim(ctx, q))
				_, err := b.db.ExecContext(ctx, promoteSQL, q, b.now())
				report("promote", err)
				if ticks%10 == 0 {
					report("event trim", b.trimEvents(ctx, q))
				}
				for _, s := range []queue.State{queue.StateCompleted, queue.StateCancelled} {
					report("retention", b.trim(ctx, b.db, q, s))
				}
			}
		case <-minute.C:
			b.housekeeping(ctx, report)
		}
	}
}

func (b *Backend) housekeeping(ctx context.Context, report func(string, error)) {
	now := b.now()
	for _, q := range b.cfg.Queues {
		report("dead-letter expiry", b.expireAt(ctx, q, now))
	}
	_, err := b.db.ExecContext(ctx, pruneSQL, now.Add(-24*time.Hour).Unix()/60, now)
	report("pruning", err)
	// A group deleted while a job of it was being enqueued is put back.
	_, err = b.db.ExecContext(ctx, `INSERT INTO tipbox_queue.groups (queue, grp)
		SELECT DISTINCT queue, grp FROM tipbox_queue.jobs WHERE grp <> '' AND state IN ('waiting', 'delayed')
		ON CONFLICT DO NOTHING`)
	report("group repair", err)
}

// reclaim takes back the queue's deliveries whose lease ran out
// (sql/reclaim.sql) and applies retention to those it ended.
func (b *Backend) reclaim(ctx context.Context, q string) error {
	now := b.now()
	rows, err := b.db.QueryContext(ctx, reclaimSQL, q, now, b.cfg.MaxStalled, now.Add(-10*b.cfg.Heartbeat))
	states, err := collect(rows, err, func(r *sql.Rows) (state queue.State, err error) {
		var notified string
		return state, r.Scan(&state, &notified)
	})
	if err != nil {
		return err
	}
	if n := len(states); n > 0 {
		b.logger.Warn("stalled deliveries taken back (their worker stopped)", "queue", q, "count", n)
	}
	for _, s := range []queue.State{queue.StateFailed, queue.StateCancelled} {
		if err == nil && slices.Contains(states, s) {
			err = b.trim(ctx, b.db, q, s)
		}
	}
	return err
}

// trimEvents keeps the newest queue.events.max_len events of the queue.
func (b *Backend) trimEvents(ctx context.Context, q string) error {
	_, err := b.db.ExecContext(ctx, `DELETE FROM tipbox_queue.events WHERE queue = $1 AND (xid, id) < (
		SELECT xid, id FROM tipbox_queue.events WHERE queue = $1 ORDER BY xid DESC, id DESC OFFSET $2 LIMIT 1)`,
		q, b.cfg.Events.MaxLen-1)
	return err
}

// expireAt drops dead letters that failed before now - retention.failed_age.
func (b *Backend) expireAt(ctx context.Context, q string, now time.Time) error {
	var n int
	err := b.db.QueryRowContext(ctx, `WITH d AS (DELETE FROM tipbox_queue.jobs
		WHERE queue = $1 AND state = 'failed' AND finished_at < $2 RETURNING 1) SELECT count(*) FROM d`,
		q, now.Add(-b.cfg.Retention.FailedAge)).Scan(&n)
	if err == nil {
		b.dropped(q, n, "age")
	}
	return err
}
