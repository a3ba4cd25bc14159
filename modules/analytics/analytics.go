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
	"strings"
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

// seenChunk is the most rows one INSERT of apply carries (at most three
// bind parameters each, far below either database's limit).
const seenChunk = 1000

// apply adds a batch in one transaction: each job id is recorded once, and
// only jobs not seen before are counted (redeliveries add nothing). The
// ids go in multi-row INSERTs that return the ids that were new, and the
// sums in one multi-row upsert: a few statements per batch, not one per
// job (a round trip to the database each).
func (s *Store) apply(ctx context.Context, batch []counted) error {
	byID := make(map[string]counted, len(batch))
	ids := make([]string, 0, len(batch))
	for _, c := range batch {
		if _, dup := byID[c.jobID]; !dup {
			byID[c.jobID] = c
			ids = append(ids, c.jobID)
		}
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixMicro()
		sums := map[[2]string]int64{}
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), seenChunk)]
			ids = ids[len(chunk):]
			var q strings.Builder
			q.WriteString(`INSERT INTO analytics_seen (job_id, seen_at) VALUES `)
			args := make([]any, 0, 1+len(chunk))
			args = append(args, now)
			for i, id := range chunk {
				if i > 0 {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "($%d, $1)", i+2)
				args = append(args, id)
			}
			q.WriteString(` ON CONFLICT (job_id) DO NOTHING RETURNING job_id`)
			rows, err := tx.QueryContext(ctx, q.String(), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				c := byID[id]
				sums[[2]string{c.event, c.day}]++
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if len(sums) == 0 {
			return nil
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
		for len(keys) > 0 {
			chunk := keys[:min(len(keys), seenChunk)]
			keys = keys[len(chunk):]
			var q strings.Builder
			q.WriteString(`INSERT INTO analytics_daily (event, day, count) VALUES `)
			args := make([]any, 0, 3*len(chunk))
			for i, k := range chunk {
				if i > 0 {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "($%d, $%d, $%d)", 3*i+1, 3*i+2, 3*i+3)
				args = append(args, k[0], k[1], sums[k])
			}
			q.WriteString(` ON CONFLICT (event, day) DO UPDATE SET count = analytics_daily.count + excluded.count`)
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
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
