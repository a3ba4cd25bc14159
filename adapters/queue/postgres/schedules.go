package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

var _ queue.Scheduling = (*Backend)(nil)

// Schedules lists a queue's schedules with Last and Created.
func (b *Backend) Schedules(ctx context.Context, q string) ([]queue.Schedule, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT id, spec, last, created FROM tipbox_queue.schedules WHERE queue = $1 ORDER BY id`, q)
	all, err := collect(rows, err, func(r *sql.Rows) (sc queue.Schedule, err error) {
		var id, spec string
		var last sql.NullTime
		var created time.Time
		if err := r.Scan(&id, &spec, &last, &created); err != nil {
			return sc, err
		}
		if err := json.Unmarshal([]byte(spec), &sc); err != nil {
			b.logger.Warn("queue schedule: stored definition unreadable; ignored", "queue", q, "schedule", id, "error", err)
			return queue.Schedule{}, nil // dropped below
		}
		sc.ID, sc.Queue, sc.Last, sc.Created = id, q, last.Time.UTC(), created.UTC()
		return sc, nil
	})
	return slices.DeleteFunc(all, func(sc queue.Schedule) bool { return sc.ID == "" }), err
}

// PutSchedule stores a schedule, keeping its Last and Created.
func (b *Backend) PutSchedule(ctx context.Context, q string, sc queue.Schedule) error {
	sc.Queue, sc.Last, sc.Created = q, time.Time{}, time.Time{}
	spec, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	_, err = b.db.ExecContext(ctx, `INSERT INTO tipbox_queue.schedules (queue, id, spec, created) VALUES ($1, $2, $3, $4)
		ON CONFLICT (queue, id) DO UPDATE SET spec = EXCLUDED.spec`, q, sc.ID, string(spec), b.now().UTC().Truncate(time.Millisecond))
	return err
}

// DeleteSchedule removes a schedule.
func (b *Backend) DeleteSchedule(ctx context.Context, q, id string) error {
	err := b.db.QueryRowContext(ctx, `DELETE FROM tipbox_queue.schedules WHERE queue = $1 AND id = $2 RETURNING id`,
		q, id).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s in %s", queue.ErrScheduleNotFound, id, q)
	}
	return err
}

// EnqueueTick makes the tick's job and records the tick, in one
// transaction. The job's ID is derived from the tick and unique (its
// dedup entry is the constraint), so racing processes make one job.
func (b *Backend) EnqueueTick(ctx context.Context, q, id string, tick time.Time, nr queue.NewRecord) (bool, error) {
	nr.Unique = true
	n := 0
	err := b.inTx(ctx, func(tx *sql.Tx) (err error) {
		if n, err = b.enqueue(ctx, tx, q, []queue.NewRecord{nr}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE tipbox_queue.schedules SET last = $3
			WHERE queue = $1 AND id = $2 AND (last IS NULL OR last < $3)`, q, id, tick.UTC())
		return err
	})
	return err == nil && n == 1, err
}
