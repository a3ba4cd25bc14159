package postgres

import (
	"context"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Run does a worker process's share of the background work until ctx
// ends; every process may run it at once (row locks are skipped, not
// waited for). Every queue.heartbeat it takes back stalled deliveries,
// applies retention.completed (dead letters are trimmed as they die),
// marks due delayed jobs waiting (claims take them anyway: this keeps
// their state and events true), and every ten it trims the event
// history; every minute
// it drops dead letters past retention.failed_age, minute counts past a
// day, expired dedup entries and idle groups. Errors are logged once and
// retried at the next tick.
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
		if err != nil {
			lastErr = err.Error()
		} else {
			lastErr = ""
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
				report("promote", b.promote(ctx, q))
				if ticks%10 == 0 {
					report("event trim", b.trimEvents(ctx, q))
				}
				for _, s := range []queue.State{queue.StateCompleted, queue.StateCancelled} {
					_, err := b.trim(ctx, b.db, q, s)
					report("retention", err)
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
	_, err := b.db.ExecContext(ctx, `
		WITH m AS (DELETE FROM tipbox_queue.minutes WHERE minute < $1),
		d AS (DELETE FROM tipbox_queue.dedup WHERE until < $2)
		DELETE FROM tipbox_queue.groups g WHERE g.grp <> '' AND g.held_until < $2 AND NOT EXISTS (
			SELECT 1 FROM tipbox_queue.jobs j WHERE j.queue = g.queue AND j.grp = g.grp
			AND j.state IN ('waiting', 'delayed', 'active'))`, now.Add(-24*time.Hour).Unix()/60, now)
	report("pruning", err)
	// A group deleted while a job of it was being enqueued is put back.
	_, err = b.db.ExecContext(ctx, `INSERT INTO tipbox_queue.groups (queue, grp)
		SELECT DISTINCT queue, grp FROM tipbox_queue.jobs WHERE grp <> '' AND state IN ('waiting', 'delayed')
		ON CONFLICT DO NOTHING`)
	report("group repair", err)
}

// reclaim takes back the queue's deliveries whose lease ran out: back to
// waiting as the next attempt, or dead with "stalled" past max_stalled or
// the job's attempts; a cancelled one ends cancelled.
func (b *Backend) reclaim(ctx context.Context, q string) error {
	now := b.now()
	rows, err := b.db.QueryContext(ctx, `
	WITH c AS MATERIALIZED (
		SELECT queue, id, cancel, (stalls + 1 > $3 OR attempt >= max_attempts) AS dead FROM tipbox_queue.jobs
		WHERE queue = $1 AND state = 'active' AND heartbeat_at < $4 ORDER BY heartbeat_at LIMIT 100 FOR UPDATE SKIP LOCKED
	)
	UPDATE tipbox_queue.jobs j SET stalls = j.stalls + 1,
		state = CASE WHEN c.cancel THEN 'cancelled' WHEN c.dead THEN 'failed' ELSE 'waiting' END,
		error = CASE WHEN NOT c.cancel AND c.dead THEN 'stalled' ELSE j.error END,
		attempt = CASE WHEN c.cancel OR c.dead THEN j.attempt ELSE j.attempt + 1 END,
		started_at = CASE WHEN c.cancel OR c.dead THEN j.started_at END,
		run_at = CASE WHEN c.cancel OR c.dead THEN j.run_at ELSE $2 END,
		finished_at = CASE WHEN c.cancel OR c.dead THEN $2 END,
		heartbeat_at = NULL
	FROM c WHERE j.queue = c.queue AND j.id = c.id
	RETURNING j.state, pg_notify('`+chanJobs+`', $1)`, q, now, b.cfg.MaxStalled, now.Add(-b.lease))
	if err != nil {
		return err
	}
	defer rows.Close()
	filled := map[queue.State]bool{}
	n := 0
	for rows.Next() {
		var state, ignored string
		if err := rows.Scan(&state, &ignored); err != nil {
			return err
		}
		filled[queue.State(state)] = true
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 {
		b.logger.Warn("stalled deliveries taken back (their worker stopped)", "queue", q, "count", n)
	}
	for _, s := range []queue.State{queue.StateFailed, queue.StateCancelled} {
		if filled[s] {
			d, err := b.trim(ctx, b.db, q, s)
			if err != nil {
				return err
			}
			if s == queue.StateFailed {
				b.dropped(q, d, "count")
			}
		}
	}
	return nil
}

// promote marks the queue's due delayed jobs waiting.
func (b *Backend) promote(ctx context.Context, q string) error {
	_, err := b.db.ExecContext(ctx, `
	WITH c AS MATERIALIZED (
		SELECT queue, id FROM tipbox_queue.jobs WHERE queue = $1 AND state = 'delayed' AND run_at <= $2
		LIMIT 1000 FOR UPDATE SKIP LOCKED
	), u AS (
		UPDATE tipbox_queue.jobs j SET state = 'waiting' FROM c WHERE j.queue = c.queue AND j.id = c.id RETURNING 1
	)
	SELECT pg_notify('`+chanJobs+`', $1) FROM (SELECT count(*) AS n FROM u) x WHERE n > 0`, q, b.now())
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
