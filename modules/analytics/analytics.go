// Package analytics is the analytics module: clients post events, which go
// to the low-priority `analytics` queue; the worker aggregates daily counts
// per event with batched writes; admins read the counts.
package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/tipbox/tipbox/core/database"
)

// Queue and job name of an analytics event.
const (
	Queue   = "analytics"
	JobName = "event"
)

// ErrInvalidEvent is a bad event name or payload.
var ErrInvalidEvent = errors.New("analytics: invalid event")

var eventName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// ValidEvent reports whether name is a valid event name (1–64 of letters,
// digits and _ . : -).
func ValidEvent(name string) bool { return eventName.MatchString(name) }

// Event is the payload of an analytics job.
type Event struct {
	Event  string         `json:"event"`
	UserID int64          `json:"userId"`
	Data   map[string]any `json:"data,omitempty"`
	At     time.Time      `json:"at"`
}

// Count is one aggregate row.
type Count struct {
	Event string `json:"event"`
	Day   string `json:"date"`
	Count int64  `json:"count"`
}

// counted is one job's contribution to a batch.
type counted struct {
	jobID string
	event string
	day   string
}

// Store holds the aggregates. Safe for concurrent use.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) *Store { return &Store{db: db} }

// apply adds a batch in one transaction: each job id is recorded once, and
// only jobs not seen before are counted (redeliveries add nothing).
func (s *Store) apply(ctx context.Context, batch []counted) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixMicro()
		sums := map[[2]string]int64{}
		for _, c := range batch {
			res, err := tx.ExecContext(ctx, `INSERT INTO analytics_seen (job_id, seen_at) VALUES ($1, $2)
				ON CONFLICT (job_id) DO NOTHING`, c.jobID, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				sums[[2]string{c.event, c.day}]++
			}
		}
		// Upsert in a fixed order: two transactions touching the same rows
		// then lock them in the same order and cannot deadlock.
		keys := make([][2]string, 0, len(sums))
		for k := range sums {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
		})
		for _, k := range keys {
			n := sums[k]
			if _, err := tx.ExecContext(ctx, `INSERT INTO analytics_daily (event, day, count) VALUES ($1, $2, $3)
				ON CONFLICT (event, day) DO UPDATE SET count = analytics_daily.count + excluded.count`, k[0], k[1], n); err != nil {
				return err
			}
		}
		return nil
	})
}

// Counts returns the daily counts, by event then day, for days in
// [from, to] (YYYY-MM-DD), optionally of one event.
func (s *Store) Counts(ctx context.Context, event, from, to string) ([]Count, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event, day, count FROM analytics_daily
		WHERE ($1 = '' OR event = $1) AND day >= $2 AND day <= $3 ORDER BY event, day`, event, from, to)
	if err != nil {
		return nil, fmt.Errorf("analytics: counts: %w", err)
	}
	defer rows.Close()
	out := []Count{}
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Event, &c.Day, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// pruneSeen forgets job ids older than before: a job redelivered after that
// long would be counted twice, which the retention makes practically
// impossible (the queue keeps no job that long).
func (s *Store) pruneSeen(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM analytics_seen WHERE seen_at < $1`, before.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
