package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

var columns = []string{"queue", "id", "name", "payload", "priority", "grp", "state", "attempt", "max_attempts",
	"stalls", "percent", "error", "enqueued_at", "run_at", "started_at", "finished_at", "correlation_id",
	"timeout_ns", "retry", "delivery"}

// jobCols are the columns scanJob reads; jobColsJ the same of table j.
var jobCols, jobColsJ = strings.Join(columns, ", "), "j." + strings.Join(columns, ", j.")

// scanJob reads a row of pre's columns then jobCols; nil for a row whose
// job columns are NULL (an outer join that found no job). A waiting or
// delayed job is reported by whether it is due at now.
func scanJob(rows interface{ Scan(...any) error }, now time.Time, pre ...any) (*queue.Job, error) {
	var queueName, id, name, payload, grp, state, errText, corr, retry sql.NullString
	var prio sql.NullInt16
	var attempt, maxAttempts, stalls, percent sql.NullInt32
	var enqueued, runAt, started, finished sql.NullTime
	var timeout, delivery sql.NullInt64
	if err := rows.Scan(append(pre, &queueName, &id, &name, &payload, &prio, &grp, &state, &attempt, &maxAttempts,
		&stalls, &percent, &errText, &enqueued, &runAt, &started, &finished, &corr, &timeout, &retry, &delivery)...); err != nil {
		return nil, err
	}
	if !id.Valid {
		return nil, nil
	}
	j := &queue.Job{Queue: queueName.String, ID: id.String, Name: name.String, Payload: json.RawMessage(payload.String),
		Priority: queue.Priorities[min(max(prio.Int16, 0), 2)], Group: grp.String, State: queue.State(state.String),
		Attempt: int(attempt.Int32), MaxAttempts: int(maxAttempts.Int32), Stalls: int(stalls.Int32),
		Percent: int(percent.Int32), Error: errText.String, EnqueuedAt: enqueued.Time, RunAt: runAt.Time,
		StartedAt: started.Time, FinishedAt: finished.Time, CorrelationID: corr.String,
		Timeout: time.Duration(timeout.Int64)}
	if j.State == queue.StateWaiting || j.State == queue.StateDelayed {
		j.State = queue.StateWaiting
		if j.RunAt.After(now) {
			j.State = queue.StateDelayed
		}
	}
	if retry.String != "" {
		j.Retry = new(queue.RetryPolicy)
		if err := json.Unmarshal([]byte(retry.String), j.Retry); err != nil {
			j.Undecodable = fmt.Errorf("%w: retry policy: %v", queue.ErrUndecodable, err)
		}
	}
	if j.State == queue.StateActive {
		j.Delivery = strconv.FormatInt(delivery.Int64, 10)
	}
	return j, nil
}

// groupFreed marks, among the states settle filled, that it ended jobs
// of a group.
const groupFreed = queue.State("")

// settleSQL applies a batch of settlements in one statement. A settlement
// counts only while its delivery is current (the job active with that
// delivery number); an admin's cancel turns any outcome but Completed into
// Cancelled. Outcomes index the state array: Completed, Retry, Dead,
// Cancelled, Released, Postponed.
const settleSQL = settleCTE + `
UPDATE tipbox_queue.jobs j SET ` + settleSet + `
FROM s WHERE j.queue = $1 AND j.id = s.id AND j.state = 'active' AND j.delivery = s.tok
RETURNING s.o, s.at, j.grp,
	-- a group's concurrency may let another job of it start: wake the
	-- other processes (this one wakes itself)
	CASE WHEN j.grp <> '' THEN pg_notify('` + chanJobs + `', $1 || ' ' || $9)::text END`

const settleCTE = `
WITH s AS (
	SELECT u.id, u.tok, CASE WHEN j.cancel AND u.o <> 0 THEN 3 ELSE u.o END AS o, u.at, u.err, u.prog
	FROM unnest($3::text[], $4::int8[], $5::int[], $6::timestamptz[], $7::text[], $8::int[]) AS u(id, tok, o, at, err, prog)
	JOIN tipbox_queue.jobs j ON j.queue = $1 AND j.id = u.id AND j.state = 'active' AND j.delivery = u.tok
)`

const settleSet = `
	state = (ARRAY['completed', 'delayed', 'failed', 'cancelled', 'waiting', 'delayed'])[s.o + 1],
	percent = CASE WHEN s.o = 0 THEN 100 WHEN s.prog >= 0 THEN s.prog ELSE j.percent END,
	error = CASE WHEN s.o IN (1, 2) OR (s.o = 3 AND s.err <> '') THEN s.err ELSE j.error END,
	attempt = CASE WHEN s.o = 1 THEN j.attempt + 1 ELSE j.attempt END,
	run_at = CASE WHEN s.o IN (1, 5) THEN s.at WHEN s.o = 4 THEN $2 ELSE j.run_at END,
	started_at = CASE WHEN s.o = 4 THEN NULL ELSE j.started_at END,
	finished_at = CASE WHEN s.o IN (0, 2, 3) THEN $2 ELSE j.finished_at END,
	heartbeat_at = NULL`

// fastSQL settles and claims in one statement, for the common case: the
// settlements neither dead-letter, postpone nor end grouped jobs, and
// the queue has no limit, no hold, no groups and is not paused (the claim
// takes nothing otherwise, and Fetch goes the long way). The claim cannot
// see the settlements (one snapshot), which it does not need here.
const fastSQL = settleCTE + `, st AS (
	UPDATE tipbox_queue.jobs j SET ` + settleSet + `
	FROM s WHERE j.queue = $1 AND j.id = s.id AND j.state = 'active' AND j.delivery = s.tok
	RETURNING 1
), c AS MATERIALIZED (
	SELECT queue, id FROM tipbox_queue.jobs
	WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at <= $2 AND grp = ''
		AND NOT EXISTS (SELECT 1 FROM tipbox_queue.queues WHERE name = $1 AND (paused OR held_until > $2))
		AND NOT EXISTS (SELECT 1 FROM tipbox_queue.groups WHERE queue = $1 AND grp <> '')
	ORDER BY priority, run_at, seq LIMIT $9 FOR UPDATE SKIP LOCKED
), u AS (
	UPDATE tipbox_queue.jobs j SET state = 'active', delivery = j.delivery + 1, started_at = $2, percent = 0,
		heartbeat_at = $2, cancel = false
	FROM c WHERE j.queue = c.queue AND j.id = c.id
	RETURNING %s
)
SELECT * FROM u`

// settleArgs are the parameters $1-$8 of settleCTE.
func settleArgs(q string, now time.Time, sts []queue.Settlement) []any {
	n := len(sts)
	ids, errs := make([]string, n), make([]string, n)
	toks, outs, progs, ats := make([]int64, n), make([]int32, n), make([]int32, n), make([]time.Time, n)
	for i, st := range sts {
		tok, _ := strconv.ParseInt(st.Job.Delivery, 10, 64)
		ids[i], toks[i], outs[i], ats[i], errs[i], progs[i] = st.Job.ID, tok, int32(st.Outcome), st.At, st.Error, -1
		if st.Progress != nil {
			progs[i] = int32(*st.Progress)
		}
	}
	return []any{q, now, ids, toks, outs, ats, errs, progs}
}

// settle applies the settlements inside tx and returns the finished
// states it filled (for retention). A postponement holds its group (or
// queue) for the claim that follows in the same transaction.
func (b *Backend) settle(ctx context.Context, tx execer, q string, sts []queue.Settlement, now time.Time) (map[queue.State]bool, error) {
	rows, err := tx.QueryContext(ctx, settleSQL, append(settleArgs(q, now, sts), b.origin)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	filled := map[queue.State]bool{}
	type hold struct {
		at  time.Time
		grp string
	}
	var holds []hold
	grouped := false
	for rows.Next() {
		var o int
		var h hold
		var notified sql.NullString
		if err := rows.Scan(&o, &h.at, &h.grp, &notified); err != nil {
			return nil, err
		}
		grouped = grouped || h.grp != ""
		switch queue.Outcome(o) {
		case queue.Completed:
			filled[queue.StateCompleted] = true
		case queue.Dead:
			filled[queue.StateFailed] = true
		case queue.Cancelled:
			filled[queue.StateCancelled] = true
		case queue.Postponed:
			holds = append(holds, h)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, h := range holds {
		// RateLimited holds the job's group, or its queue when it has none.
		stmt := `UPDATE tipbox_queue.queues SET held_until = greatest(held_until, $2) WHERE name = $1`
		args := []any{q, h.at}
		if h.grp != "" {
			stmt = `UPDATE tipbox_queue.groups SET held_until = greatest(held_until, $3) WHERE queue = $1 AND grp = $2`
			args = []any{q, h.grp, h.at}
		}
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			return nil, err
		}
	}
	if grouped {
		filled[groupFreed] = true
	}
	return filled, nil
}

// trim applies retention to a finished state: the newest
// retention.completed (completed, cancelled) or retention.failed jobs stay.
func (b *Backend) trim(ctx context.Context, ex execer, q string, state queue.State) (int, error) {
	keep := b.cfg.Retention.Completed
	if state == queue.StateFailed {
		keep = b.cfg.Retention.Failed
	}
	var n int
	err := ex.QueryRowContext(ctx, `WITH d AS (
		DELETE FROM tipbox_queue.jobs WHERE queue = $1 AND id IN (
			SELECT id FROM tipbox_queue.jobs WHERE queue = $1 AND state = $2
			ORDER BY finished_at DESC, id DESC OFFSET $3 FOR UPDATE SKIP LOCKED)
		RETURNING 1)
	SELECT count(*) FROM d`, q, string(state), keep).Scan(&n)
	return n, err
}

// Fetch settles req.Settle and claims up to req.Max due jobs, in one
// transaction.
func (b *Backend) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	if err := b.check(req.Queue); err != nil {
		return nil, err
	}
	now := b.now()
	if req.Max <= 0 && !dead(req.Settle) { // settling only: no transaction
		freed, err := b.settleAll(ctx, b.db, req.Queue, req.Settle, now)
		b.freed(req.Queue, freed)
		return nil, err
	}
	if req.Max > 0 {
		b.mu.Lock() // what Wait compares with: the last attempt to claim
		w := b.wake[req.Queue]
		w.seen, w.fetchedAt = w.gen, now
		b.mu.Unlock()
	}
	b.mu.Lock()
	grouped := b.wake[req.Queue].grouped
	b.mu.Unlock()
	_, limited := b.limits[req.Queue]
	if grouped && req.Max > 0 && !limited && b.groupLimit.Max == 0 && len(req.Settle) == 0 {
		return b.fetchGrouped(ctx, req, now)
	}
	if req.Max > 0 && !limited && !grouped && simple(req.Settle) {
		jobs, err := b.fetchFast(ctx, req, now)
		if err != nil || len(jobs) == req.Max {
			return jobs, err
		}
		// Fewer: the queue may be short of due jobs, or paused, held,
		// grouped: the long way tells (and claims what the rule allows).
		more, err := b.fetchTx(ctx, queue.FetchRequest{Queue: req.Queue, Consumer: req.Consumer, Max: req.Max - len(jobs)}, now)
		return append(jobs, more...), err
	}
	return b.fetchTx(ctx, req, now)
}

// fetchTx settles and claims in one transaction, of several statements.
func (b *Backend) fetchTx(ctx context.Context, req queue.FetchRequest, now time.Time) ([]*queue.Job, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	freed, err := b.settleAll(ctx, tx, req.Queue, req.Settle, now)
	if err != nil {
		return nil, err
	}
	jobs, cerr := b.claim(ctx, tx, req, now)
	var held *queue.HeldError
	if cerr != nil && !errors.Is(cerr, queue.ErrPaused) && !errors.As(cerr, &held) {
		return nil, cerr
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	b.freed(req.Queue, freed && req.Max <= 0)
	return jobs, cerr
}

// freed wakes this process's Wait at once after a settlement that ended
// jobs of a group (its notification to itself is ignored).
func (b *Backend) freed(q string, freed bool) {
	if freed {
		b.mu.Lock()
		b.bump(q)
		b.mu.Unlock()
	}
}

// simple reports whether the settlements may go with a claim in one
// statement (see fastSQL).
func simple(sts []queue.Settlement) bool {
	for _, st := range sts {
		if st.Outcome == queue.Dead || st.Outcome == queue.Postponed || st.Job.Group != "" {
			return false
		}
	}
	return true
}

// fetchFast runs fastSQL.
func (b *Backend) fetchFast(ctx context.Context, req queue.FetchRequest, now time.Time) ([]*queue.Job, error) {
	rows, err := b.db.QueryContext(ctx, fmt.Sprintf(fastSQL, jobColsJ), append(settleArgs(req.Queue, now, req.Settle), req.Max)...)
	if err != nil {
		return nil, err
	}
	return scanClaimed(rows, now)
}

// groupedSQL claims in one statement on a queue with groups (and no
// limit): high jobs, then one job of each member of the round-robin (the
// ungrouped normal jobs and each group within its hold and concurrency,
// least recently served first) per round, then low jobs. It returns the
// queue's pause and hold with the claimed jobs (one row of NULLs when
// none). A group's active count is kept by the jobs_updated trigger, and
// its row is locked here, so two claims never both fill its last slot.
const groupedSQL = `
WITH st AS (
	SELECT coalesce(q.paused, false) AS paused, coalesce(q.held_until, 'epoch'::timestamptz) AS held_until
	FROM (SELECT 1) one LEFT JOIN tipbox_queue.queues q ON q.name = $1
), m AS MATERIALIZED (
	SELECT g.grp, g.served, CASE WHEN g.grp = '' OR $4::int = 0 THEN $3 ELSE least($3, $4::int - g.active) END AS room
	FROM tipbox_queue.groups g, st
	WHERE g.queue = $1 AND NOT st.paused AND st.held_until <= $2 AND g.held_until <= $2
		AND (g.grp = '' OR $4::int = 0 OR g.active < $4::int)
	ORDER BY g.served, g.grp LIMIT 1000
	FOR UPDATE OF g SKIP LOCKED
), c AS MATERIALIZED (
	SELECT x.queue, x.id, 0 AS class, 0::bigint AS rn, 0::bigint AS served, ''::text AS grp
	FROM st, LATERAL (SELECT queue, id FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = '' AND priority = 0 AND state IN ('waiting', 'delayed') AND run_at <= $2
			AND NOT st.paused AND st.held_until <= $2
		ORDER BY run_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED) x
	UNION ALL
	SELECT x.queue, x.id, 1, row_number() OVER (ORDER BY x.run_at, x.seq), m0.served, ''
	FROM (SELECT * FROM m WHERE grp = '') m0, LATERAL (SELECT queue, id, run_at, seq FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = '' AND priority = 1 AND state IN ('waiting', 'delayed') AND run_at <= $2
		ORDER BY run_at, seq LIMIT m0.room FOR UPDATE SKIP LOCKED) x
	UNION ALL
	SELECT x.queue, x.id, 1, row_number() OVER (PARTITION BY mg.grp ORDER BY x.run_at, x.seq), mg.served, mg.grp
	FROM (SELECT * FROM m WHERE grp <> '') mg, LATERAL (SELECT queue, id, run_at, seq FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = mg.grp AND grp <> '' AND state IN ('waiting', 'delayed') AND run_at <= $2
		ORDER BY run_at, seq LIMIT mg.room FOR UPDATE SKIP LOCKED) x
	UNION ALL
	SELECT x.queue, x.id, 2, 0, 0, ''
	FROM st, LATERAL (SELECT queue, id FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = '' AND priority = 2 AND state IN ('waiting', 'delayed') AND run_at <= $2
			AND NOT st.paused AND st.held_until <= $2
		ORDER BY run_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED) x
), pick AS MATERIALIZED (
	SELECT queue, id, class, grp FROM c ORDER BY class, rn, served LIMIT $3
), sv AS (
	UPDATE tipbox_queue.groups g SET served = nextval('tipbox_queue.served')
	WHERE g.queue = $1 AND g.grp IN (SELECT grp FROM pick WHERE class = 1)
), u AS (
	UPDATE tipbox_queue.jobs j SET state = 'active', delivery = j.delivery + 1, started_at = $2, percent = 0,
		heartbeat_at = $2, cancel = false
	FROM pick WHERE j.queue = pick.queue AND j.id = pick.id
	RETURNING %s
)
SELECT st.paused, st.held_until, u.* FROM st LEFT JOIN u ON true`

// fetchGrouped runs groupedSQL.
func (b *Backend) fetchGrouped(ctx context.Context, req queue.FetchRequest, now time.Time) ([]*queue.Job, error) {
	rows, err := b.db.QueryContext(ctx, fmt.Sprintf(groupedSQL, jobColsJ), req.Queue, now, req.Max, b.cfg.GroupConcurrency)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queue.Job
	var paused bool
	var held time.Time
	for rows.Next() {
		j, err := scanJob(rows, now, &paused, &held)
		if err != nil {
			return nil, err
		}
		if j != nil {
			out = append(out, j)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	switch {
	case paused:
		return nil, queue.ErrPaused
	case now.Before(held):
		return nil, &queue.HeldError{Until: held}
	}
	sortClaimed(out)
	return out, nil
}

// dead reports whether a settlement dead-letters its job: then the
// retention of dead letters must apply in the same transaction.
func dead(sts []queue.Settlement) bool {
	for _, st := range sts {
		if st.Outcome == queue.Dead {
			return true
		}
	}
	return false
}

// settleAll settles and applies retention to the dead letters (other
// finished jobs are trimmed by Run); freed says it ended jobs of a group.
func (b *Backend) settleAll(ctx context.Context, ex execer, q string, sts []queue.Settlement, now time.Time) (freed bool, err error) {
	if len(sts) == 0 {
		return false, nil
	}
	filled, err := b.settle(ctx, ex, q, sts, now)
	if err != nil {
		return false, err
	}
	if filled[queue.StateFailed] {
		n, err := b.trim(ctx, ex, q, queue.StateFailed)
		if err != nil {
			return false, err
		}
		// Counted before a commit: a rollback makes the next settle count
		// again what it drops.
		b.dropped(q, n, "count")
	}
	return filled[groupFreed], nil
}

// claimSQL moves up to $4 due jobs picked by the condition %s to active.
const claimSQL = `
WITH c AS MATERIALIZED (
	SELECT queue, id FROM tipbox_queue.jobs
	WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at <= $2 AND %s
	LIMIT $4 FOR UPDATE SKIP LOCKED
)%s
UPDATE tipbox_queue.jobs j SET state = 'active', delivery = j.delivery + 1, started_at = $2, percent = 0,
	heartbeat_at = $2, cancel = false
FROM c WHERE j.queue = c.queue AND j.id = c.id
RETURNING %s`

// claim takes due jobs: high, then normal round-robin between the
// ungrouped jobs and each group (within its hold, limit and
// concurrency), then low, all within the queue's hold and limit.
func (b *Backend) claim(ctx context.Context, tx *sql.Tx, req queue.FetchRequest, now time.Time) ([]*queue.Job, error) {
	if req.Max <= 0 {
		return nil, nil
	}
	q := req.Queue
	limit, limited := b.limits[q]
	lock := ""
	if limited {
		lock = " FOR UPDATE"
	}
	var paused, grouped bool
	var heldUntil, tat time.Time
	// Groups are served round-robin while the queue has any (idle ones
	// are dropped by Run's housekeeping).
	var high, low sql.NullBool
	err := tx.QueryRowContext(ctx, `SELECT paused, held_until, tat, EXISTS (SELECT 1 FROM tipbox_queue.groups
		WHERE queue = $1 AND grp <> ''),
		(SELECT true FROM tipbox_queue.jobs WHERE queue = $1 AND grp = '' AND priority = 0 AND state IN ('waiting', 'delayed') AND run_at <= $2 LIMIT 1),
		(SELECT true FROM tipbox_queue.jobs WHERE queue = $1 AND grp = '' AND priority = 2 AND state IN ('waiting', 'delayed') AND run_at <= $2 LIMIT 1)
		FROM tipbox_queue.queues WHERE name = $1`+lock, q, now).Scan(&paused, &heldUntil, &tat, &grouped, &high, &low)
	if errors.Is(err, sql.ErrNoRows) { // the listener has not created it yet
		if err := b.ensureQueues(ctx); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.mu.Lock() // the next Fetch skips fastSQL while the queue has groups
	b.wake[q].grouped = grouped
	b.mu.Unlock()
	if paused {
		return nil, queue.ErrPaused
	}
	if now.Before(heldUntil) {
		return nil, &queue.HeldError{Until: heldUntil}
	}
	want := req.Max
	var step, tol time.Duration
	if limited {
		step, tol = limit.Spacing()
		if tat.Before(now) {
			tat = now
		}
		want = min(want, int(float64(now.Add(tol).Sub(tat))/float64(step))+1)
		if want <= 0 {
			return nil, &queue.HeldError{Until: tat.Add(-tol)}
		}
	}
	var out []*queue.Job
	var blocked time.Time
	if !grouped {
		out, err = b.claimWhere(ctx, tx, q, now, "grp = '' AND $3::text = '' ORDER BY priority, run_at, seq", "", want, nil)
	} else {
		out, blocked, err = b.claimGrouped(ctx, tx, q, now, want, high.Valid, low.Valid)
	}
	if err != nil {
		return nil, err
	}
	if limited {
		tat = tat.Add(time.Duration(len(out)) * step)
		if _, err := tx.ExecContext(ctx, `UPDATE tipbox_queue.queues SET tat = $2 WHERE name = $1`, q, tat); err != nil {
			return nil, err
		}
		if want < req.Max && len(out) == want {
			return out, &queue.HeldError{Until: tat.Add(-tol)}
		}
	}
	if !blocked.IsZero() {
		return out, &queue.HeldError{Until: blocked}
	}
	return out, nil
}

// serveSQL sends the member $3 of the round-robin to its back, with its
// limit's next slot $5, when the claim took a job of it.
const serveSQL = `, s AS (
	UPDATE tipbox_queue.groups SET served = nextval('tipbox_queue.served'), tat = $5
	WHERE queue = $1 AND grp = $3 AND EXISTS (SELECT 1 FROM c)
)`

// claimWhere claims up to n due jobs matching cond (with grp as $3); with
// serve set, grp is a member of the round-robin, served at that slot.
func (b *Backend) claimWhere(ctx context.Context, tx *sql.Tx, q string, now time.Time, cond string, grp string, n int, serve *time.Time) ([]*queue.Job, error) {
	query, args := fmt.Sprintf(claimSQL, cond, "", jobColsJ), []any{q, now, grp, n}
	if serve != nil {
		query, args = fmt.Sprintf(claimSQL, cond, serveSQL, jobColsJ), append(args, *serve)
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanClaimed(rows, now)
}

// scanClaimed reads claimed jobs, the highest priority first.
func scanClaimed(rows *sql.Rows, now time.Time) ([]*queue.Job, error) {
	defer rows.Close()
	var out []*queue.Job
	for rows.Next() {
		j, err := scanJob(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	sortClaimed(out)
	return out, rows.Err()
}

// sortClaimed orders claimed jobs by priority then due time.
func sortClaimed(out []*queue.Job) {
	sort.SliceStable(out, func(i, k int) bool {
		if out[i].Priority != out[k].Priority {
			return out[i].Priority > out[k].Priority
		}
		return out[i].RunAt.Before(out[k].RunAt)
	})
}

// claimGrouped claims high jobs, then one job per member of the
// round-robin (least recently served first) per round, then low jobs.
// It returns when a member is blocked only by its hold or limit.
func (b *Backend) claimGrouped(ctx context.Context, tx *sql.Tx, q string, now time.Time, want int, high, low bool) ([]*queue.Job, time.Time, error) {
	var out []*queue.Job
	var err error
	if high {
		out, err = b.claimWhere(ctx, tx, q, now, "grp = '' AND $3::text = '' AND priority = 0 ORDER BY run_at, seq", "", want, nil)
		if err != nil || len(out) == want {
			return out, time.Time{}, err
		}
	}
	type member struct {
		grp       string
		heldUntil time.Time
		tat       time.Time
		active    int
		served    int64
	}
	// The members with a due job: the ungrouped normal jobs ("") and
	// each group, locked in key order (as the jobs trigger locks them).
	rows, err := tx.QueryContext(ctx, `SELECT g.grp, g.held_until, g.tat, g.active, g.served
		FROM tipbox_queue.groups g WHERE g.queue = $1 AND CASE WHEN g.grp = ''
			THEN (SELECT true FROM tipbox_queue.jobs w WHERE w.queue = $1 AND w.grp = '' AND w.priority = 1
				AND w.state IN ('waiting', 'delayed') AND w.run_at <= $2 LIMIT 1)
			ELSE (SELECT true FROM tipbox_queue.jobs w WHERE w.queue = $1 AND w.grp = g.grp AND w.grp <> ''
				AND w.state IN ('waiting', 'delayed') AND w.run_at <= $2 LIMIT 1) END
		ORDER BY g.grp FOR UPDATE OF g`, q, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	var members []*member
	for rows.Next() {
		m := &member{}
		if err := rows.Scan(&m.grp, &m.heldUntil, &m.tat, &m.active, &m.served); err != nil {
			rows.Close()
			return nil, time.Time{}, err
		}
		members = append(members, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	sort.SliceStable(members, func(i, k int) bool { return members[i].served < members[k].served })
	var blocked time.Time
	block := func(t time.Time) {
		if blocked.IsZero() || t.Before(blocked) {
			blocked = t
		}
	}
	var step, tol time.Duration
	if b.groupLimit.Max > 0 {
		step, tol = b.groupLimit.Spacing()
	}
	for progress := true; progress && len(out) < want; {
		progress = false
		var ready []*member
		for _, m := range members {
			if m.grp != "" {
				if now.Before(m.heldUntil) {
					block(m.heldUntil)
					continue
				}
				if b.cfg.GroupConcurrency > 0 && m.active >= b.cfg.GroupConcurrency {
					continue
				}
				if b.groupLimit.Max > 0 {
					if m.tat.Before(now) {
						m.tat = now
					}
					if m.tat.Sub(now) > tol {
						block(m.tat.Add(-tol))
						continue
					}
				}
			}
			ready = append(ready, m)
		}
		for i, m := range ready {
			// An even share of what is left, each round.
			k := (want - len(out) + len(ready) - i - 1) / (len(ready) - i)
			cond := "grp = '' AND $3::text = '' AND priority = 1 ORDER BY run_at, seq"
			if m.grp != "" {
				cond = "grp = $3 AND grp <> '' ORDER BY run_at, seq"
				if b.cfg.GroupConcurrency > 0 {
					k = min(k, b.cfg.GroupConcurrency-m.active)
				}
				if b.groupLimit.Max > 0 {
					k = 1
				}
			}
			next := m.tat
			if b.groupLimit.Max > 0 && m.grp != "" {
				next = m.tat.Add(step)
			}
			got, err := b.claimWhere(ctx, tx, q, now, cond, m.grp, k, &next)
			if err != nil {
				return nil, time.Time{}, err
			}
			if len(got) == 0 {
				continue
			}
			progress = true
			out = append(out, got...)
			m.active += len(got)
			m.tat = next
		}
	}
	if low && len(out) < want {
		low, err := b.claimWhere(ctx, tx, q, now, "grp = '' AND $3::text = '' AND priority = 2 ORDER BY run_at, seq", "", want-len(out), nil)
		if err != nil {
			return nil, time.Time{}, err
		}
		out = append(out, low...)
	}
	return out, blocked, nil
}

// Heartbeat renews the leases of the running deliveries and returns those
// an admin cancelled.
func (b *Backend) Heartbeat(ctx context.Context, q, _ string, running []*queue.Job) ([]string, error) {
	if err := b.check(q); err != nil || len(running) == 0 {
		return nil, err
	}
	ids, toks := make([]string, len(running)), make([]int64, len(running))
	for i, j := range running {
		ids[i] = j.ID
		toks[i], _ = strconv.ParseInt(j.Delivery, 10, 64)
	}
	rows, err := b.db.QueryContext(ctx, `UPDATE tipbox_queue.jobs j SET heartbeat_at = $2
		FROM unnest($3::text[], $4::int8[]) AS u(id, tok)
		WHERE j.queue = $1 AND j.id = u.id AND j.delivery = u.tok AND j.state = 'active'
		RETURNING j.id, j.cancel`, q, b.now(), ids, toks)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cancel []string
	for rows.Next() {
		var id string
		var c bool
		if err := rows.Scan(&id, &c); err != nil {
			return nil, err
		}
		if c {
			cancel = append(cancel, id)
		}
	}
	return cancel, rows.Err()
}

// ReportProgress sets a current delivery's progress (a "progress" event).
func (b *Backend) ReportProgress(ctx context.Context, j *queue.Job, pct int) error {
	tok, _ := strconv.ParseInt(j.Delivery, 10, 64)
	_, err := b.db.ExecContext(ctx, `UPDATE tipbox_queue.jobs SET percent = $4
		WHERE queue = $1 AND id = $2 AND delivery = $3 AND state = 'active'`, j.Queue, j.ID, tok, pct)
	return err
}

// AppendLog adds a line to a current delivery's log, keeping the newest
// queue.logs.max_lines.
func (b *Backend) AppendLog(ctx context.Context, j *queue.Job, line queue.LogLine) error {
	if b.cfg.Logs.MaxLines == 0 {
		return nil
	}
	tok, _ := strconv.ParseInt(j.Delivery, 10, 64)
	_, err := b.db.ExecContext(ctx, `WITH ins AS (
		INSERT INTO tipbox_queue.logs (queue, job_id, at, message)
		SELECT $1, $2, $4, $5 WHERE EXISTS (SELECT 1 FROM tipbox_queue.jobs
			WHERE queue = $1 AND id = $2 AND delivery = $3 AND state = 'active'))
	DELETE FROM tipbox_queue.logs WHERE queue = $1 AND job_id = $2 AND seq IN (
		SELECT seq FROM tipbox_queue.logs WHERE queue = $1 AND job_id = $2 ORDER BY seq DESC OFFSET $6)`,
		j.Queue, j.ID, tok, line.At, line.Message, b.cfg.Logs.MaxLines-1)
	return err
}
