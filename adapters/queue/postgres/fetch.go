package postgres

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// settleOnlySQL settles (sql/settle.sql); fastSQL settles and claims in
// one statement (sql/fast.sql follows), and limitedSQL likewise for a
// queue with a limit and no groups (sql/limited.sql follows);
// claimLockedSQL is sql/claim.sql for a queue with a limit, which locks
// the queue's row.
var (
	settleOnlySQL  = settleSQL + "SELECT * FROM st"
	fastSQL        = settleSQL + fastClaimSQL
	limitedSQL     = settleSQL + limitedClaimSQL
	claimLockedSQL = strings.Replace(claimSQL, "/*lock*/", "FOR UPDATE", 1)
)

// token is a delivery's number, as Fetch set it.
func token(j *queue.Job) int64 {
	n, _ := strconv.ParseInt(j.Delivery, 10, 64)
	return n
}

// settleArgs are the parameters $1-$9 of sql/settle.sql.
func (b *Backend) settleArgs(q string, now time.Time, sts []queue.Settlement) []any {
	n := len(sts)
	ids, errs := make([]string, n), make([]string, n)
	toks, outs, progs, ats := make([]int64, n), make([]int32, n), make([]int32, n), make([]time.Time, n)
	for i, st := range sts {
		ids[i], toks[i], outs[i], ats[i], errs[i], progs[i] = st.Job.ID, token(st.Job), int32(st.Outcome), st.At, st.Error, -1
		if st.Progress != nil {
			progs[i] = int32(*st.Progress)
		}
	}
	return []any{q, now, ids, toks, outs, ats, errs, progs, b.origin}
}

// settle applies the settlements through ex and, when some dead-letter
// their job, the retention of dead letters (other finished jobs are
// trimmed by Run); freed says it ended jobs of a group. A postponement
// holds its group (or queue) for the claims that follow.
func (b *Backend) settle(ctx context.Context, ex execer, q string, sts []queue.Settlement, now time.Time) (freed bool, err error) {
	if len(sts) == 0 {
		return false, nil
	}
	rows, err := ex.QueryContext(ctx, settleOnlySQL, b.settleArgs(q, now, sts)...)
	done, err := collect(rows, err, func(r *sql.Rows) (s queue.Settlement, err error) {
		var notified sql.NullString
		s.Job = &queue.Job{} // its Group
		return s, r.Scan(&s.Outcome, &s.At, &s.Job.Group, &notified)
	})
	if err != nil {
		return false, err
	}
	dead := false
	for _, s := range done {
		freed, dead = freed || s.Job.Group != "", dead || s.Outcome == queue.Dead
		if s.Outcome != queue.Postponed {
			continue
		}
		// RateLimited holds the job's group, or its queue when it has none.
		if _, err := ex.ExecContext(ctx, `WITH g AS (UPDATE tipbox_queue.groups SET held_until = greatest(held_until, $2)
			WHERE queue = $1 AND grp = $3 AND $3 <> '')
		UPDATE tipbox_queue.queues SET held_until = greatest(held_until, $2) WHERE name = $1 AND $3 = ''`,
			q, s.At, s.Job.Group); err != nil {
			return false, err
		}
	}
	if dead {
		if err := b.trim(ctx, ex, q, queue.StateFailed); err != nil {
			return false, err
		}
	}
	return freed, nil
}

// trim applies retention to a finished state: the newest
// retention.completed (completed, cancelled) or retention.failed jobs stay.
// Dead letters dropped are counted before a commit: a rollback makes the
// next trim count again what it drops.
func (b *Backend) trim(ctx context.Context, ex execer, q string, state queue.State) error {
	keep := b.cfg.Retention.Completed
	if state == queue.StateFailed {
		keep = b.cfg.Retention.Failed
	}
	var n int
	err := ex.QueryRowContext(ctx, trimSQL, q, string(state), keep).Scan(&n)
	if err == nil && state == queue.StateFailed {
		b.dropped(q, n, "count")
	}
	return err
}

// Fetch settles req.Settle and claims up to req.Max due jobs: in one
// statement in the common case (no groups, and no dead letter,
// postponement or grouped job among the settlements: sql/fast.sql, or
// sql/limited.sql for a queue with a limit), else settling then claiming
// in one transaction.
func (b *Backend) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	now := b.now()
	b.mu.Lock()
	w := b.wake[req.Queue]
	if req.Max > 0 { // what Wait compares with: the last attempt to claim
		w.seen, w.fetchedAt = w.gen, now
	}
	grouped := w.grouped
	b.mu.Unlock()
	_, limited := b.limits[req.Queue]
	dead := slices.ContainsFunc(req.Settle, func(st queue.Settlement) bool { return st.Outcome == queue.Dead })
	switch {
	case req.Max <= 0 && !dead: // settling only: no transaction
		freed, err := b.settle(ctx, b.db, req.Queue, req.Settle, now)
		b.freed(req.Queue, freed)
		return nil, err
	case req.Max > 0 && !limited && !grouped && !slices.ContainsFunc(req.Settle, func(st queue.Settlement) bool {
		return st.Outcome == queue.Dead || st.Outcome == queue.Postponed || st.Job.Group != ""
	}):
		rows, err := b.db.QueryContext(ctx, fastSQL, append(b.settleArgs(req.Queue, now, req.Settle), req.Max)...)
		jobs, err := collect(rows, err, func(r *sql.Rows) (*queue.Job, error) { return scanJob(r, now) })
		if err != nil || len(jobs) == req.Max {
			return jobs, err
		}
		// Fewer: the queue may be short of due jobs, or paused, held,
		// grouped: the full claim tells (and takes what its rules allow).
		more, err := b.claim(ctx, b.db, req.Queue, req.Max-len(jobs), now)
		return append(jobs, more...), err
	case req.Max > 0 && limited && !grouped && !slices.ContainsFunc(req.Settle, func(st queue.Settlement) bool {
		return st.Outcome == queue.Dead || st.Outcome == queue.Postponed || st.Job.Group != ""
	}):
		// A limited queue's common case: one statement, as sql/fast.sql
		// is for the others (sql/limited.sql).
		return b.claimAfter(ctx, req.Queue, req.Max, now, b.settleArgs(req.Queue, now, req.Settle))
	case len(req.Settle) == 0:
		return b.claim(ctx, b.db, req.Queue, req.Max, now)
	}
	var jobs []*queue.Job
	var freed bool
	var cerr error // a pause or hold: the settlements are committed
	err := b.inTx(ctx, func(tx *sql.Tx) (err error) {
		if freed, err = b.settle(ctx, tx, req.Queue, req.Settle, now); err != nil {
			return err
		}
		var held *queue.HeldError
		if jobs, cerr = b.claim(ctx, tx, req.Queue, req.Max, now); errors.Is(cerr, queue.ErrPaused) || errors.As(cerr, &held) {
			return nil
		}
		return cerr
	})
	if err != nil {
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

// claim takes up to n due jobs through ex by the queue's rules
// (sql/claim.sql). Like Fetch, it returns queue.ErrPaused, or a
// queue.HeldError with the jobs a limit let through.
func (b *Backend) claim(ctx context.Context, ex execer, q string, n int, now time.Time) ([]*queue.Job, error) {
	return b.claimWith(ctx, ex, q, n, now, nil)
}

// claimAfter settles (settle: settleArgs) and claims through a limited
// queue's rules in one statement (sql/limited.sql); a queue found to have
// groups then claims through sql/claim.sql.
func (b *Backend) claimAfter(ctx context.Context, q string, n int, now time.Time, settle []any) ([]*queue.Job, error) {
	return b.claimWith(ctx, b.db, q, n, now, settle)
}

func (b *Backend) claimWith(ctx context.Context, ex execer, q string, n int, now time.Time, settle []any) ([]*queue.Job, error) {
	if n <= 0 {
		return nil, nil
	}
	limit, limited := b.limits[q]
	stmt, step, tol := claimSQL, time.Duration(0), time.Duration(0)
	if limited {
		stmt = claimLockedSQL
		step, tol = limit.Spacing()
	}
	var gstep, gtol time.Duration
	if b.groupLimit.Max > 0 {
		gstep, gtol = b.groupLimit.Spacing()
	}
	var paused, grouped bool
	var held, tat time.Time
	var want int
	var blocked sql.NullTime
	args := []any{q, now, n, b.cfg.GroupConcurrency, int64(step), int64(tol), int64(gstep), int64(gtol)}
	if settle != nil {
		stmt, args = limitedSQL, append(settle, n, int64(step), int64(tol))
	}
	rows, err := ex.QueryContext(ctx, stmt, args...)
	jobs, err := collect(rows, err, func(r *sql.Rows) (*queue.Job, error) {
		return scanJob(r, now, &paused, &held, &tat, &want, &grouped, &blocked)
	})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 { // no row: the listener has not created the queue's yet
		return nil, b.ensureQueues(ctx)
	}
	jobs = slices.DeleteFunc(jobs, func(j *queue.Job) bool { return j == nil })
	b.mu.Lock() // the next Fetch skips sql/fast.sql while the queue has groups
	b.wake[q].grouped = grouped
	b.mu.Unlock()
	if settle != nil && grouped { // sql/limited.sql took none
		return b.claim(ctx, ex, q, n, now)
	}
	switch {
	case paused:
		return nil, queue.ErrPaused
	case now.Before(held):
		return nil, &queue.HeldError{Until: held}
	case limited && want <= 0:
		return nil, &queue.HeldError{Until: tat.Add(-tol)}
	case limited && want < n && len(jobs) == want:
		return jobs, &queue.HeldError{Until: tat.Add(time.Duration(want)*step - tol)}
	case blocked.Valid:
		return jobs, &queue.HeldError{Until: blocked.Time}
	}
	return jobs, nil
}

// Heartbeat renews the leases of the running deliveries and returns those
// an admin cancelled.
func (b *Backend) Heartbeat(ctx context.Context, q, _ string, running []*queue.Job) ([]string, error) {
	if len(running) == 0 {
		return nil, nil
	}
	ids, toks := make([]string, len(running)), make([]int64, len(running))
	for i, j := range running {
		ids[i], toks[i] = j.ID, token(j)
	}
	rows, err := b.db.QueryContext(ctx, heartbeatSQL, q, b.now(), ids, toks)
	return collect(rows, err, column[string])
}

// Report sets a current delivery's progress (a "progress" event) and adds
// its log line, keeping the newest queue.logs.max_lines.
func (b *Backend) Report(ctx context.Context, j *queue.Job, r queue.Report) (err error) {
	if r.Progress != nil {
		_, err = b.db.ExecContext(ctx, `UPDATE tipbox_queue.jobs SET percent = $4
		WHERE queue = $1 AND id = $2 AND delivery = $3 AND state = 'active'`, j.Queue, j.ID, token(j), *r.Progress)
	}
	if r.Log != nil && b.cfg.Logs.MaxLines > 0 && err == nil {
		_, err = b.db.ExecContext(ctx, logSQL, j.Queue, j.ID, token(j), r.Log.At, r.Log.Message, b.cfg.Logs.MaxLines-1)
	}
	return err
}
