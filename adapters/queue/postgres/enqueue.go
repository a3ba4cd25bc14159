package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Enqueue stores the jobs.
func (b *Backend) Enqueue(ctx context.Context, q string, jobs []queue.NewRecord) error {
	_, err := b.enqueue(ctx, b.db, q, jobs)
	return err
}

// EnqueueTx stores the jobs inside tx, a transaction on the database the
// queue lives in: they exist, and workers are woken, when tx commits, and
// never when it rolls back.
func (b *Backend) EnqueueTx(ctx context.Context, tx *sql.Tx, q string, jobs []queue.NewRecord) error {
	_, err := b.enqueue(ctx, tx, q, jobs)
	return err
}

// enqueue stores the jobs through ex and returns how many it stored (the
// others were duplicates).
func (b *Backend) enqueue(ctx context.Context, ex execer, q string, jobs []queue.NewRecord) (int, error) {
	n := len(jobs)
	if n == 0 {
		return 0, nil
	}
	ids, names, payloads, grps, corr, retries := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	uniq, prios, maxAtt := make([]bool, n), make([]int16, n), make([]int32, n)
	enq, runAt, timeouts := make([]time.Time, n), make([]time.Time, n), make([]int64, n)
	for i, nr := range jobs {
		j := nr.Job
		ids[i], uniq[i], names[i], payloads[i] = j.ID, nr.Unique, j.Name, string(j.Payload)
		prios[i], grps[i], maxAtt[i] = int16(j.Priority.Index()), j.Group, int32(j.MaxAttempts)
		enq[i], runAt[i], corr[i], timeouts[i] = j.EnqueuedAt, j.RunAt, j.CorrelationID, int64(j.Timeout)
		if j.Retry != nil {
			r, err := json.Marshal(j.Retry)
			if err != nil {
				return 0, fmt.Errorf("postgres: retry policy of %s: %w", j.ID, err)
			}
			retries[i] = string(r)
		}
	}
	var stored int // see sql/enqueue.sql
	err := ex.QueryRowContext(ctx, enqueueSQL, q, b.now(), ids, uniq, names, payloads, prios, grps, maxAtt,
		enq, runAt, corr, timeouts, retries, DedupWindow.Microseconds()).Scan(&stored)
	return stored, err
}
