// Package notification is the notification module: the worker handler of
// the `notifications` queue stores each notification in the user's inbox
// (idempotently, by job id) and pushes it to the user's sockets; the inbox
// routes page through it and mark items read.
//
// The original's rule holds: a failed push never fails the job. An offline
// user loses nothing, since the inbox has every notification.
package notification

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tipbox/tipbox/core/database"
)

// Queue is the queue this module consumes.
const Queue = "notifications"

// Sentinel errors.
var (
	ErrNotFound   = errors.New("notification: not found")
	ErrBadPayload = errors.New("notification: payload needs a type and a positive userId")
)

// Notification is an inbox item. Data holds the event's own fields; the
// JSON form flattens them beside id, type, createdAt and readAt.
type Notification struct {
	ID        int64
	UserID    int64
	Type      string
	Data      map[string]json.RawMessage
	CreatedAt time.Time
	ReadAt    *time.Time
}

// MarshalJSON flattens the event's fields into the item, as in SPEC §4/§5:
// {"id":"12","type":"NEW_BADGE","userId":1,"badgeId":1,...,"createdAt":"...","readAt":null}.
func (n Notification) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(n.Data)+4)
	for k, v := range n.Data {
		out[k] = v
	}
	out["id"] = strconv.FormatInt(n.ID, 10)
	out["type"] = n.Type
	out["userId"] = n.UserID
	out["createdAt"] = n.CreatedAt
	out["readAt"] = n.ReadAt
	return json.Marshal(out)
}

// Store is the inbox in the database. Safe for concurrent use.
type Store struct{ db *database.DB }

// NewStore returns a store on db (the "notification" migrations applied).
func NewStore(db *database.DB) *Store { return &Store{db: db} }

// Save stores the notification of a job once: a second Save with the same
// jobID returns the stored row unchanged (created is false).
func (s *Store) Save(ctx context.Context, jobID string, userID int64, typ string, data map[string]json.RawMessage) (n Notification, created bool, err error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Notification{}, false, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	res, err := s.db.ExecContext(ctx, `INSERT INTO notifications (job_id, user_id, type, data, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id) DO NOTHING`, jobID, userID, typ, string(raw), now.UnixMicro())
	if err != nil {
		return Notification{}, false, fmt.Errorf("notification: save: %w", err)
	}
	affected, _ := res.RowsAffected()
	n, err = s.scanOne(s.db.QueryRowContext(ctx, `SELECT id, user_id, type, data, created_at, read_at
		FROM notifications WHERE job_id = $1`, jobID))
	return n, affected == 1, err
}

// List returns up to limit of the user's notifications, newest first,
// with ids below before (0: from the newest).
func (s *Store) List(ctx context.Context, userID int64, limit int, before int64) ([]Notification, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, user_id, type, data, created_at, read_at FROM notifications
		WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, userID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("notification: list: %w", err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n, err := s.scanOne(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// MarkRead sets read_at on the user's notification (once; a second call
// keeps the first time) and returns it.
func (s *Store) MarkRead(ctx context.Context, userID, id int64) (Notification, error) {
	now := time.Now().UTC().Truncate(time.Microsecond).UnixMicro()
	if _, err := s.db.ExecContext(ctx, `UPDATE notifications SET read_at = $1
		WHERE id = $2 AND user_id = $3 AND read_at IS NULL`, now, id, userID); err != nil {
		return Notification{}, fmt.Errorf("notification: mark read: %w", err)
	}
	return s.scanOne(s.db.QueryRowContext(ctx, `SELECT id, user_id, type, data, created_at, read_at
		FROM notifications WHERE id = $1 AND user_id = $2`, id, userID))
}

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanOne(row scanner) (Notification, error) {
	var n Notification
	var data string
	var created int64
	var read sql.NullInt64
	if err := row.Scan(&n.ID, &n.UserID, &n.Type, &data, &created, &read); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Notification{}, ErrNotFound
		}
		return Notification{}, fmt.Errorf("notification: scan: %w", err)
	}
	if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
		return Notification{}, fmt.Errorf("notification: stored data: %w", err)
	}
	n.CreatedAt = time.UnixMicro(created).UTC()
	if read.Valid {
		t := time.UnixMicro(read.Int64).UTC()
		n.ReadAt = &t
	}
	return n, nil
}
