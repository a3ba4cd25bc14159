package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Stats returns the queue's counts.
func (b *Backend) Stats(ctx context.Context, q string) (queue.Stats, error) {
	s := queue.Stats{Name: q}
	err := b.db.QueryRowContext(ctx, statsSQL, q, b.now()).
		Scan(&s.LastEvent, &s.Paused, &s.Completed, &s.Failed, &s.Waiting, &s.Active, &s.Delayed)
	return s, err
}

// Job returns one job with its logs.
func (b *Backend) Job(ctx context.Context, q, id string) (*queue.Job, error) {
	now := b.now()
	rows, err := b.db.QueryContext(ctx, `SELECT * FROM tipbox_queue.jobs WHERE queue = $1 AND id = $2`, q, id)
	jobs, err := collect(rows, err, func(r *sql.Rows) (*queue.Job, error) { return scanJob(r, now) })
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	rows, err = b.db.QueryContext(ctx, `SELECT at, message FROM tipbox_queue.logs WHERE queue = $1 AND job_id = $2 ORDER BY seq`, q, id)
	logs, err := collect(rows, err, func(r *sql.Rows) (l queue.LogLine, err error) { return l, r.Scan(&l.At, &l.Message) })
	if err != nil {
		return nil, err
	}
	jobs[0].Logs = logs
	return jobs[0], nil
}

// listings are the condition selecting a state's jobs and the column that
// orders them (when each entered the state).
var listings = map[queue.State][2]string{
	queue.StateWaiting:   {"state IN ('waiting', 'delayed') AND run_at <= $2", "run_at"},
	queue.StateDelayed:   {"state IN ('waiting', 'delayed') AND run_at > $2", "run_at"},
	queue.StateActive:    {"state = 'active' AND $2::timestamptz IS NOT NULL", "started_at"},
	queue.StateCompleted: {"state = 'completed' AND $2::timestamptz IS NOT NULL", "finished_at"},
	queue.StateFailed:    {"state = 'failed' AND $2::timestamptz IS NOT NULL", "finished_at"},
	queue.StateCancelled: {"state = 'cancelled' AND $2::timestamptz IS NOT NULL", "finished_at"},
}

// Jobs lists a state's jobs newest first (see queue.JobQuery.Page).
func (b *Backend) Jobs(ctx context.Context, q string, query queue.JobQuery) (queue.JobPage, error) {
	l, ok := listings[query.State]
	if !ok {
		return queue.JobPage{}, fmt.Errorf("%w: state %q", queue.ErrBadQuery, query.State)
	}
	cond, key := l[0], l[1]
	at, after := int64(math.MaxInt64), "\U0010FFFF"
	if query.Cursor != "" {
		var err error
		if at, after, err = queue.ParseCursor(query.Cursor); err != nil {
			return queue.JobPage{}, err
		}
	}
	if query.Search != "" {
		return b.searchJobs(ctx, q, query, cond, key, time.Unix(0, at), after)
	}
	now := b.now()
	rows, err := b.db.QueryContext(ctx, `SELECT * FROM tipbox_queue.jobs WHERE queue = $1 AND `+cond+
		` AND (`+key+`, id) < ($3, $4) ORDER BY `+key+` DESC, id DESC LIMIT $5`, q, now, time.Unix(0, at), after, query.Limit+1)
	all, err := collect(rows, err, func(r *sql.Rows) (*queue.Job, error) { return scanJob(r, now) })
	if err != nil {
		return queue.JobPage{}, err
	}
	return query.Page(all), nil
}

// Act applies an admin action to one job, or to every job of a state
// that entered it before t.Before (zero: all), oldest first, 500 per
// transaction.
func (b *Backend) Act(ctx context.Context, q string, t queue.Target, a queue.Action) (int, error) {
	if t.ID != "" {
		if err := b.inTx(ctx, func(tx *sql.Tx) error { return b.act(ctx, tx, q, t.ID, a, b.now()) }); err != nil {
			return 0, err
		}
		return 1, nil
	}
	l, ok := listings[t.State]
	if !ok {
		return 0, fmt.Errorf("%w: state %q", queue.ErrBadQuery, t.State)
	}
	before := t.Before
	if before.IsZero() {
		before = time.Unix(0, math.MaxInt64)
	}
	for total := 0; ; {
		now, n := b.now(), 0
		err := b.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM tipbox_queue.jobs WHERE queue = $1 AND `+l[0]+
				` AND `+l[1]+` < $3 ORDER BY `+l[1]+`, id LIMIT 500`, q, now, before)
			ids, err := collect(rows, err, column[string])
			for n = 0; err == nil && n < len(ids); n++ {
				err = b.act(ctx, tx, q, ids[n], a, now)
			}
			return err
		})
		if err != nil {
			return total, err
		}
		if total += n; n < 500 {
			return total, nil
		}
	}
}

func (b *Backend) act(ctx context.Context, tx *sql.Tx, q, id string, a queue.Action, now time.Time) error {
	var state string
	var runAt time.Time
	err := tx.QueryRowContext(ctx, `SELECT state, run_at FROM tipbox_queue.jobs WHERE queue = $1 AND id = $2 FOR UPDATE`, q, id).Scan(&state, &runAt)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	if err != nil {
		return err
	}
	s := stateAt(state, runAt, now)
	exec := func(stmt string, args ...any) error {
		_, err := tx.ExecContext(ctx, stmt, append([]any{q, id}, args...)...)
		return err
	}
	switch {
	case a == queue.ActRetry && (s == queue.StateFailed || s == queue.StateCancelled):
		return exec(`UPDATE tipbox_queue.jobs SET state = 'waiting', attempt = 1, stalls = 0, percent = 0, run_at = $3,
			started_at = NULL, finished_at = NULL, cancel = false WHERE queue = $1 AND id = $2
			RETURNING pg_notify('`+chanJobs+`', $1)`, now)
	case a == queue.ActPromote && s == queue.StateDelayed:
		return exec(`UPDATE tipbox_queue.jobs SET state = 'waiting', run_at = $3 WHERE queue = $1 AND id = $2
			RETURNING pg_notify('`+chanJobs+`', $1)`, now)
	case a == queue.ActCancel && (s == queue.StateWaiting || s == queue.StateDelayed):
		if err := exec(`UPDATE tipbox_queue.jobs SET state = 'cancelled', finished_at = $3 WHERE queue = $1 AND id = $2`, now); err != nil {
			return err
		}
		return b.trim(ctx, tx, q, queue.StateCancelled)
	case a == queue.ActCancel && s == queue.StateActive:
		return exec(`UPDATE tipbox_queue.jobs SET cancel = true, heartbeat_at = heartbeat_at WHERE queue = $1 AND id = $2
			RETURNING pg_notify('` + chanCancel + `', $1 || ' ' || $2)`)
	case a == queue.ActRemove && s != queue.StateActive:
		return exec(`DELETE FROM tipbox_queue.jobs WHERE queue = $1 AND id = $2`)
	case a == queue.ActRetry || a == queue.ActPromote || a == queue.ActCancel || a == queue.ActRemove:
		return fmt.Errorf("%w: cannot %s a %s job", queue.ErrJobState, a, s)
	}
	return fmt.Errorf("%w: action %q", queue.ErrBadQuery, a)
}

// SetPaused sets the queue's paused flag (a resume wakes its workers).
func (b *Backend) SetPaused(ctx context.Context, q string, paused bool) error {
	if err := b.ensureQueues(ctx); err != nil {
		return err
	}
	_, err := b.db.ExecContext(ctx, `UPDATE tipbox_queue.queues SET paused = $2 WHERE name = $1
		RETURNING pg_notify('`+chanJobs+`', $1)`, q, paused)
	return err
}

// Events returns up to max events after `after`, polling up to block for
// the first one. Event IDs are "<xid>-<id>" (see the events table).
func (b *Backend) Events(ctx context.Context, q, after string, max int, block time.Duration) ([]queue.Event, error) {
	var xid, id int64
	if _, err := fmt.Sscanf(after, "%d-%d", &xid, &id); after != "" && err != nil {
		return nil, fmt.Errorf("%w: event id %q", queue.ErrBadQuery, after)
	}
	deadline := time.Now().Add(block)
	for {
		rows, err := b.db.QueryContext(ctx, `SELECT xid || '-' || id, job_id, name, state, attempts, progress, error, at
			FROM tipbox_queue.events WHERE queue = $1 AND (xid, id) > ($2, $3)
			AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
			ORDER BY xid, id LIMIT $4`, q, xid, id, max)
		out, err := collect(rows, err, func(r *sql.Rows) (ev queue.Event, err error) {
			ev.Queue = q
			return ev, r.Scan(&ev.ID, &ev.JobID, &ev.Name, &ev.State, &ev.Attempts, &ev.Progress, &ev.Error, &ev.At)
		})
		if err != nil || len(out) > 0 || time.Until(deadline) <= 0 {
			return out, err
		}
		if err := sleep(ctx, min(time.Until(deadline), 20*time.Millisecond), nil); err != nil {
			return nil, err
		}
	}
}

// Minutes returns the per-minute counts since `since`, oldest first.
func (b *Backend) Minutes(ctx context.Context, q string, since time.Time) ([]queue.Minute, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT minute, completed, failed FROM tipbox_queue.minutes
		WHERE queue = $1 AND minute >= $2 AND (completed > 0 OR failed > 0) ORDER BY minute`, q, since.Unix()/60)
	return collect(rows, err, func(r *sql.Rows) (m queue.Minute, err error) {
		var minute int64
		err = r.Scan(&minute, &m.Completed, &m.Failed)
		m.At = time.Unix(minute*60, 0).UTC()
		return m, err
	})
}
