package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// execer is what a statement runs on: the pool or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// enqueueSQL stores a batch in one statement: the caller-chosen IDs first
// take their dedup entry (a live one makes the job a duplicate), then the
// jobs go in and one notification wakes the queue's workers when the
// transaction commits.
const enqueueSQL = `
WITH u AS (
	SELECT * FROM unnest($3::text[], $4::bool[], $5::text[], $6::text[], $7::int2[], $8::text[], $9::text[], $10::int[],
		$11::timestamptz[], $12::timestamptz[], $13::text[], $14::int8[], $15::text[])
	WITH ORDINALITY AS u(id, uniq, name, payload, priority, grp, state, max_attempts, enqueued_at, run_at, correlation_id, timeout_ns, retry, n)
), d AS (
	INSERT INTO tipbox_queue.dedup AS t (queue, id, until)
	SELECT $1, id, $2::timestamptz + interval '1 microsecond' * $16::bigint FROM u WHERE uniq
	ON CONFLICT (queue, id) DO UPDATE SET until = EXCLUDED.until WHERE t.until < $2
	RETURNING id
), g AS (
	INSERT INTO tipbox_queue.groups (queue, grp) SELECT DISTINCT $1, grp FROM u WHERE grp <> ''
	ON CONFLICT DO NOTHING
), ins AS (
	INSERT INTO tipbox_queue.jobs (queue, id, name, payload, priority, grp, state, attempt, max_attempts, enqueued_at, run_at,
		correlation_id, timeout_ns, retry)
	SELECT $1, id, name, payload, priority, grp, state, 1, max_attempts, enqueued_at, run_at, correlation_id, timeout_ns, retry
	FROM u WHERE NOT uniq OR id IN (SELECT id FROM d) ORDER BY n
	ON CONFLICT (queue, id) DO NOTHING
	RETURNING 1
)
SELECT x.c FROM (SELECT count(*) AS c FROM ins) x,
	LATERAL (SELECT count(*) FROM (SELECT pg_notify('` + chanJobs + `', $1) WHERE x.c > 0) n) y`

// Enqueue stores the jobs.
func (b *Backend) Enqueue(ctx context.Context, q string, jobs []queue.NewRecord) error {
	if err := b.check(q); err != nil {
		return err
	}
	_, err := b.enqueue(ctx, b.db, q, jobs)
	return err
}

// EnqueueTx stores the jobs inside tx, a transaction on the database the
// queue lives in: they exist, and workers are woken, when tx commits, and
// never when it rolls back.
func (b *Backend) EnqueueTx(ctx context.Context, tx *sql.Tx, q string, jobs []queue.NewRecord) error {
	if err := b.check(q); err != nil {
		return err
	}
	_, err := b.enqueue(ctx, tx, q, jobs)
	return err
}

// enqueue stores the jobs through ex and returns how many it stored (the
// others were duplicates).
func (b *Backend) enqueue(ctx context.Context, ex execer, q string, jobs []queue.NewRecord) (int, error) {
	seen := map[string]bool{}
	kept := jobs[:0:0]
	for _, nr := range jobs { // an ID twice in one batch: the first wins
		if !seen[nr.Job.ID] {
			seen[nr.Job.ID] = true
			kept = append(kept, nr)
		}
	}
	jobs = kept
	if len(jobs) == 0 {
		return 0, nil
	}
	now := b.now()
	n := len(jobs)
	ids, names, payloads, grps, states, corr, retries := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	uniq, prios, maxAtt := make([]bool, n), make([]int16, n), make([]int32, n)
	enq, runAt, timeouts := make([]time.Time, n), make([]time.Time, n), make([]int64, n)
	for i, nr := range jobs {
		j := nr.Job
		ids[i], uniq[i], names[i], payloads[i] = j.ID, nr.Unique, j.Name, string(j.Payload)
		prios[i], grps[i], maxAtt[i] = int16(j.Priority.Index()), j.Group, int32(j.MaxAttempts)
		enq[i], runAt[i], corr[i], timeouts[i] = j.EnqueuedAt, j.RunAt, j.CorrelationID, int64(j.Timeout)
		states[i] = string(queue.StateWaiting)
		if j.RunAt.After(now) {
			states[i] = string(queue.StateDelayed)
		}
		if j.Retry != nil {
			r, err := json.Marshal(j.Retry)
			if err != nil {
				return 0, fmt.Errorf("postgres: retry policy of %s: %w", j.ID, err)
			}
			retries[i] = string(r)
		}
	}
	var stored int
	err := ex.QueryRowContext(ctx, enqueueSQL, q, now, ids, uniq, names, payloads, prios, grps, states, maxAtt,
		enq, runAt, corr, timeouts, retries, DedupWindow.Microseconds()).Scan(&stored)
	return stored, err
}
