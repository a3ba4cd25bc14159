package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Stats returns the queue's counts.
func (b *Backend) Stats(ctx context.Context, q string) (queue.Stats, error) {
	if err := b.check(q); err != nil {
		return queue.Stats{}, err
	}
	s := queue.Stats{Name: q}
	err := b.db.QueryRowContext(ctx, `SELECT coalesce(q.paused, false), coalesce(q.completed, 0), coalesce(q.failed, 0),
		(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at <= $2),
		(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state = 'active'),
		(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at > $2)
		FROM (SELECT 1) one LEFT JOIN tipbox_queue.queues q ON q.name = $1`, q, b.now()).
		Scan(&s.Paused, &s.Completed, &s.Failed, &s.Waiting, &s.Active, &s.Delayed)
	return s, err
}

// Job returns one job with its logs.
func (b *Backend) Job(ctx context.Context, q, id string) (*queue.Job, error) {
	if err := b.check(q); err != nil {
		return nil, err
	}
	j, err := scanJob(b.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM tipbox_queue.jobs WHERE queue = $1 AND id = $2`, q, id), b.now())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s in %s", queue.ErrJobNotFound, id, q)
	}
	if err != nil {
		return nil, err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT at, message FROM tipbox_queue.logs WHERE queue = $1 AND job_id = $2 ORDER BY seq`, q, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var l queue.LogLine
		if err := rows.Scan(&l.At, &l.Message); err != nil {
			return nil, err
		}
		j.Logs = append(j.Logs, l)
	}
	return j, rows.Err()
}

// listing returns the condition selecting a state's jobs and the column
// that orders them (when each entered the state).
func listing(state queue.State) (cond, key string, err error) {
	switch state {
	case queue.StateWaiting:
		return "state IN ('waiting', 'delayed') AND run_at <= $2", "run_at", nil
	case queue.StateDelayed:
		return "state IN ('waiting', 'delayed') AND run_at > $2", "run_at", nil
	case queue.StateActive:
		return "state = 'active' AND $2::timestamptz IS NOT NULL", "started_at", nil
	case queue.StateCompleted, queue.StateFailed, queue.StateCancelled:
		return "state = '" + string(state) + "' AND $2::timestamptz IS NOT NULL", "finished_at", nil
	}
	return "", "", fmt.Errorf("%w: state %q", queue.ErrBadQuery, state)
}

// Jobs lists a state's jobs newest first; the cursor is the last returned
// (or examined) job's "<unix-nanos>_<id>".
func (b *Backend) Jobs(ctx context.Context, q string, query queue.JobQuery) (queue.JobPage, error) {
	if err := b.check(q); err != nil {
		return queue.JobPage{}, err
	}
	cond, key, err := listing(query.State)
	if err != nil {
		return queue.JobPage{}, err
	}
	at, after := time.Unix(0, math.MaxInt64), "\U0010FFFF"
	if query.Cursor != "" {
		ts, id, ok := strings.Cut(query.Cursor, "_")
		n, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			return queue.JobPage{}, fmt.Errorf("%w: cursor %q", queue.ErrBadQuery, query.Cursor)
		}
		at, after = time.Unix(0, n), id
	}
	if query.Search != "" {
		return b.searchJobs(ctx, q, query, cond, key, at, after)
	}
	n := query.Limit
	rows, err := b.db.QueryContext(ctx, `SELECT `+jobCols+` FROM tipbox_queue.jobs WHERE queue = $1 AND `+cond+
		` AND (`+key+`, id) < ($3, $4) ORDER BY `+key+` DESC, id DESC LIMIT $5`, q, b.now(), at, after, n+1)
	if err != nil {
		return queue.JobPage{}, err
	}
	defer rows.Close()
	var all []*queue.Job
	for rows.Next() {
		j, err := scanJob(rows, b.now())
		if err != nil {
			return queue.JobPage{}, err
		}
		all = append(all, j)
	}
	if err := rows.Err(); err != nil {
		return queue.JobPage{}, err
	}
	var page queue.JobPage
	i := 0
	for ; i < len(all) && len(page.Jobs) < query.Limit; i++ {
		page.Jobs = append(page.Jobs, all[i])
	}
	if i < len(all) && i > 0 {
		last := all[i-1]
		page.Next = strconv.FormatInt(listKey(last).UnixNano(), 10) + "_" + last.ID
	}
	return page, nil
}

func listKey(j *queue.Job) time.Time {
	switch j.State {
	case queue.StateActive:
		return j.StartedAt
	case queue.StateCompleted, queue.StateFailed, queue.StateCancelled:
		return j.FinishedAt
	}
	return j.RunAt
}

// Act applies an admin action to one job.
func (b *Backend) Act(ctx context.Context, q, id string, a queue.Action) error {
	if err := b.check(q); err != nil {
		return err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := b.act(ctx, tx, q, id, a, b.now()); err != nil {
		return err
	}
	return tx.Commit()
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
	s := queue.State(state)
	if s == queue.StateWaiting || s == queue.StateDelayed {
		s = queue.StateWaiting
		if runAt.After(now) {
			s = queue.StateDelayed
		}
	}
	bad := fmt.Errorf("%w: cannot %s a %s job", queue.ErrJobState, a, s)
	exec := func(stmt string, args ...any) error {
		_, err := tx.ExecContext(ctx, stmt, append([]any{q, id}, args...)...)
		return err
	}
	const notify = `SELECT pg_notify('` + chanJobs + `', $1) WHERE $2::text IS NOT NULL`
	switch a {
	case queue.ActRetry:
		if s != queue.StateFailed && s != queue.StateCancelled {
			return bad
		}
		if err := exec(`UPDATE tipbox_queue.jobs SET state = 'waiting', attempt = 1, stalls = 0, percent = 0, run_at = $3,
			started_at = NULL, finished_at = NULL, cancel = false WHERE queue = $1 AND id = $2`, now); err != nil {
			return err
		}
		return exec(notify)
	case queue.ActPromote:
		if s != queue.StateDelayed {
			return bad
		}
		if err := exec(`UPDATE tipbox_queue.jobs SET state = 'waiting', run_at = $3 WHERE queue = $1 AND id = $2`, now); err != nil {
			return err
		}
		return exec(notify)
	case queue.ActCancel:
		switch s {
		case queue.StateWaiting, queue.StateDelayed:
			if err := exec(`UPDATE tipbox_queue.jobs SET state = 'cancelled', finished_at = $3 WHERE queue = $1 AND id = $2`, now); err != nil {
				return err
			}
			_, err := b.trim(ctx, tx, q, queue.StateCancelled)
			return err
		case queue.StateActive:
			return exec(`UPDATE tipbox_queue.jobs SET cancel = true, heartbeat_at = heartbeat_at WHERE queue = $1 AND id = $2
				RETURNING pg_notify('` + chanCancel + `', $1 || ' ' || $2)`)
		}
		return bad
	case queue.ActRemove:
		if s == queue.StateActive {
			return bad
		}
		return exec(`DELETE FROM tipbox_queue.jobs WHERE queue = $1 AND id = $2`)
	}
	return fmt.Errorf("%w: action %q", queue.ErrBadQuery, a)
}

// ActAll applies a to every job of state that entered it before `before`
// (zero: all), oldest first, 500 per transaction.
func (b *Backend) ActAll(ctx context.Context, q string, a queue.Action, state queue.State, before time.Time) (int, error) {
	if err := b.check(q); err != nil {
		return 0, err
	}
	cond, key, err := listing(state)
	if err != nil {
		return 0, err
	}
	if before.IsZero() {
		before = time.Unix(0, math.MaxInt64)
	}
	total := 0
	for {
		now := b.now()
		tx, err := b.db.BeginTx(ctx, nil)
		if err != nil {
			return total, err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM tipbox_queue.jobs WHERE queue = $1 AND `+cond+` AND `+key+` < $3
			ORDER BY `+key+`, id LIMIT 500`, q, now, before)
		var ids []string
		for err == nil && rows.Next() {
			var id string
			err = rows.Scan(&id)
			ids = append(ids, id)
		}
		if rows != nil {
			rows.Close()
		}
		for _, id := range ids {
			if err == nil {
				err = b.act(ctx, tx, q, id, a, now)
			}
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			_ = tx.Rollback()
			return total, err
		}
		total += len(ids)
		if len(ids) < 500 {
			return total, nil
		}
	}
}

// SetPaused sets the queue's paused flag (a resume wakes its workers).
func (b *Backend) SetPaused(ctx context.Context, q string, paused bool) error {
	if err := b.check(q); err != nil {
		return err
	}
	if err := b.ensureQueues(ctx); err != nil {
		return err
	}
	_, err := b.db.ExecContext(ctx, `UPDATE tipbox_queue.queues SET paused = $2 WHERE name = $1
		RETURNING pg_notify('`+chanJobs+`', $1)`, q, paused)
	return err
}

// Paused reads the queue's paused flag.
func (b *Backend) Paused(ctx context.Context, q string) (bool, error) {
	s, err := b.Stats(ctx, q)
	return s.Paused, err
}

// Event IDs are "<xid>-<id>" (see the events table).
func parseEventID(s string) (xid, id int64, err error) {
	if s == "" {
		return 0, 0, nil
	}
	x, i, ok := strings.Cut(s, "-")
	xid, err1 := strconv.ParseInt(x, 10, 64)
	id, err2 := strconv.ParseInt(i, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: event id %q", queue.ErrBadQuery, s)
	}
	return xid, id, nil
}

// Events returns up to max events after `after`, polling up to block for
// the first one.
func (b *Backend) Events(ctx context.Context, q, after string, max int, block time.Duration) ([]queue.Event, error) {
	if err := b.check(q); err != nil {
		return nil, err
	}
	xid, id, err := parseEventID(after)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(block)
	for {
		rows, err := b.db.QueryContext(ctx, `SELECT xid, id, job_id, name, state, attempts, progress, error, at
			FROM tipbox_queue.events WHERE queue = $1 AND (xid, id) > ($2, $3)
			AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
			ORDER BY xid, id LIMIT $4`, q, xid, id, max)
		if err != nil {
			return nil, err
		}
		var out []queue.Event
		for rows.Next() {
			var ev queue.Event
			var x, i int64
			var state string
			var progress sql.NullInt32
			if err := rows.Scan(&x, &i, &ev.JobID, &ev.Name, &state, &ev.Attempts, &progress, &ev.Error, &ev.At); err != nil {
				rows.Close()
				return nil, err
			}
			ev.ID, ev.Queue, ev.State = fmt.Sprintf("%d-%d", x, i), q, queue.State(state)
			if progress.Valid {
				p := int(progress.Int32)
				ev.Progress = &p
			}
			out = append(out, ev)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(out) > 0 || time.Until(deadline) <= 0 {
			return out, nil
		}
		if err := sleep(ctx, min(time.Until(deadline), 20*time.Millisecond)); err != nil {
			return nil, err
		}
	}
}

// LastEventID is a position after every event that can still be read
// before it: the events of transactions older than every running one.
func (b *Backend) LastEventID(ctx context.Context, q string) (string, error) {
	if err := b.check(q); err != nil {
		return "", err
	}
	var xmin int64
	if err := b.db.QueryRowContext(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&xmin); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-%d", xmin-1, int64(math.MaxInt64)), nil
}

// Minutes returns the per-minute counts since `since`, oldest first.
func (b *Backend) Minutes(ctx context.Context, q string, since time.Time) ([]queue.Minute, error) {
	if err := b.check(q); err != nil {
		return nil, err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT minute, completed, failed FROM tipbox_queue.minutes
		WHERE queue = $1 AND minute >= $2 AND (completed > 0 OR failed > 0) ORDER BY minute`, q, since.Unix()/60)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.Minute
	for rows.Next() {
		var m queue.Minute
		var minute int64
		if err := rows.Scan(&minute, &m.Completed, &m.Failed); err != nil {
			return nil, err
		}
		m.At = time.Unix(minute*60, 0).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}
