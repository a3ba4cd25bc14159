package postgres

import (
	"context"
	"database/sql"
	_ "embed" // the statements in sql/
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// The statements too long to read inside Go; each file says what it
// does and what its parameters are.
var (
	//go:embed sql/enqueue.sql
	enqueueSQL string
	//go:embed sql/settle.sql
	settleSQL string
	//go:embed sql/fast.sql
	fastClaimSQL string
	//go:embed sql/limited.sql
	limitedClaimSQL string
	//go:embed sql/claim.sql
	claimSQL string
	//go:embed sql/reclaim.sql
	reclaimSQL string
	//go:embed sql/prune.sql
	pruneSQL string
	//go:embed sql/promote.sql
	promoteSQL string
	//go:embed sql/trim.sql
	trimSQL string
	//go:embed sql/stats.sql
	statsSQL string
	//go:embed sql/heartbeat.sql
	heartbeatSQL string
	//go:embed sql/log.sql
	logSQL string
)

// execer is what a statement runs on: the pool or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (b *Backend) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// collect reads every row of a query (its results passed as they come)
// with scan, and closes them.
func collect[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// column scans a row of one column.
func column[T any](r *sql.Rows) (v T, err error) { return v, r.Scan(&v) }

// stateAt is a stored state as seen at now: a waiting or delayed job is
// delayed until run_at, then waiting (a claim takes it either way).
func stateAt(state string, runAt, now time.Time) queue.State {
	if state == string(queue.StateWaiting) || state == string(queue.StateDelayed) {
		if runAt.After(now) {
			return queue.StateDelayed
		}
		return queue.StateWaiting
	}
	return queue.State(state)
}

// scanJob reads the columns pre, then a whole row of tipbox_queue.jobs
// (SELECT *, RETURNING j.*: in the column order of its migration); nil
// for a row whose job columns are NULL (an outer join that found no job).
func scanJob(rows *sql.Rows, now time.Time, pre ...any) (*queue.Job, error) {
	var queueName, id, name, payload, grp, state, errText, corr, retry sql.NullString
	var prio sql.NullInt16
	var attempt, maxAttempts, stalls, percent sql.NullInt32
	var enqueued, runAt, started, finished, heartbeat sql.NullTime
	var seq, timeout, delivery sql.NullInt64
	var cancel sql.NullBool
	if err := rows.Scan(append(pre, &queueName, &id, &seq, &name, &payload, &prio, &grp, &state, &attempt,
		&maxAttempts, &stalls, &percent, &errText, &enqueued, &runAt, &started, &finished, &corr, &timeout,
		&retry, &delivery, &heartbeat, &cancel)...); err != nil {
		return nil, err
	}
	if !id.Valid {
		return nil, nil
	}
	j := &queue.Job{Queue: queueName.String, ID: id.String, Name: name.String, Payload: json.RawMessage(payload.String),
		Priority: queue.Priorities[min(max(prio.Int16, 0), 2)], Group: grp.String,
		State: stateAt(state.String, runAt.Time, now), Attempt: int(attempt.Int32), MaxAttempts: int(maxAttempts.Int32),
		Stalls: int(stalls.Int32), Percent: int(percent.Int32), Error: errText.String, EnqueuedAt: enqueued.Time,
		RunAt: runAt.Time, StartedAt: started.Time, FinishedAt: finished.Time, CorrelationID: corr.String,
		Timeout: time.Duration(timeout.Int64)}
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
