// Package notification is the notification module: the worker handler of
// the `notifications` queue stores each notification in the user's inbox
// (idempotently, by job id) and pushes it to the user's sockets; the inbox
// routes page through it and mark items read.
//
// A failed push never fails the job. An offline
// user loses nothing, since the inbox has every notification.
//
// Beyond the socket and the inbox, a notification fans out to the
// channels (email, Web Push) the user's preferences turn on for its type:
// one job per channel on that channel's queue, delayed past the user's
// quiet hours, so a slow or failing channel holds up nothing else. Each
// channel's outcome (pending, sent, failed, skipped) is recorded on the
// inbox item.
package notification

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
// Channels holds each channel's delivery (absent when there is none, as in
// the frame pushed to sockets).
type Notification struct {
	ID        int64
	UserID    int64
	Type      string
	Data      map[string]json.RawMessage
	CreatedAt time.Time
	ReadAt    *time.Time
	Channels  map[string]Delivery
}

// MarshalJSON flattens the event's fields into the item:
// {"id":"12","type":"NEW_BADGE","userId":1,"badgeId":1,...,"createdAt":"...","readAt":null,
// "channels":{"email":{"state":"sent",...}}}.
func (n Notification) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(n.Data)+5)
	for k, v := range n.Data {
		out[k] = v
	}
	out["id"] = strconv.FormatInt(n.ID, 10)
	out["type"] = n.Type
	out["userId"] = n.UserID
	out["createdAt"] = n.CreatedAt
	out["readAt"] = n.ReadAt
	if len(n.Channels) > 0 {
		out["channels"] = n.Channels
	}
	return json.Marshal(out)
}

// Delivery states of a channel.
const (
	StatePending = "pending" // a job is queued (or waits for quiet hours to end)
	StateSent    = "sent"
	StateFailed  = "failed"  // given up: refused for good, or out of attempts
	StateSkipped = "skipped" // not sent: by the user's preferences, for want of an address, or its job was cancelled
)

// DetailCancelled is the Detail of a delivery skipped because an admin
// cancelled its job.
const DetailCancelled = "cancelled"

// Delivery is one channel's state for a notification. Detail says why a
// delivery was skipped or failed (or why a pending one is being retried).
type Delivery struct {
	State     string     `json:"state"`
	Detail    string     `json:"detail,omitempty"`
	NotBefore *time.Time `json:"notBefore,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

// Done reports whether the delivery needs no more attempts: sent or
// skipped. A failed one runs again when its dead job is retried, and so
// does one skipped because its job was cancelled, when an admin retries
// the cancelled job.
func (d Delivery) Done() bool {
	return d.State == StateSent || d.State == StateSkipped && d.Detail != DetailCancelled
}

// Store is the inbox in the database. Safe for concurrent use.
type Store struct{ db *database.DB }

// NewStore returns a store on db (the "notification" migrations applied).
func NewStore(db *database.DB) *Store { return &Store{db: db} }

// Record is a notification to store: the job it comes from, its user,
// type, the event's own fields and the channels' plan.
type Record struct {
	JobID  string
	UserID int64
	Type   string
	Data   map[string]json.RawMessage
	Plan   map[string]Delivery
}

// Save stores the notification of a job once, with the channels' plan: a
// second Save with the same jobID returns the stored row unchanged
// (created is false), plan included.
func (s *Store) Save(ctx context.Context, jobID string, userID int64, typ string, data map[string]json.RawMessage, plan map[string]Delivery) (n Notification, created bool, err error) {
	ns, created1, err := s.SaveBatch(ctx, []Record{{JobID: jobID, UserID: userID, Type: typ, Data: data, Plan: plan}})
	if err != nil {
		return Notification{}, false, err
	}
	return ns[0], created1[0], nil
}

// SaveBatch is Save for many jobs in one round trip: one INSERT of every
// record that returns the rows it created (a job id stored before is left
// alone, and read back by a second round trip). It returns them in recs' order, each with whether this call
// created it. The job ids must differ.
func (s *Store) SaveBatch(ctx context.Context, recs []Record) ([]Notification, []bool, error) {
	const perRow = 6
	args := make([]any, 0, perRow*len(recs))
	values := make([]string, len(recs))
	now := time.Now().UTC().Truncate(time.Microsecond).UnixMicro()
	for i, r := range recs {
		raw, err := json.Marshal(r.Data)
		if err != nil {
			return nil, nil, err
		}
		plan := r.Plan
		if plan == nil {
			plan = map[string]Delivery{}
		}
		rawPlan, err := json.Marshal(plan)
		if err != nil {
			return nil, nil, err
		}
		values[i] = placeholders(len(args), perRow)
		args = append(args, r.JobID, r.UserID, r.Type, string(raw), string(rawPlan), now)
	}
	rows, err := s.db.QueryContext(ctx, `INSERT INTO notifications (job_id, user_id, type, data, channels, created_at)
		VALUES `+strings.Join(values, ", ")+` ON CONFLICT (job_id) DO NOTHING RETURNING `+columns+`, job_id`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("notification: save: %w", err)
	}
	stored := make(map[string]Notification, len(recs))
	created := make(map[string]bool, len(recs))
	err = eachRow(rows, func() error {
		var id string
		n, err := s.scan(rows, &id)
		stored[id], created[id] = n, true
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("notification: save: %w", err)
	}
	// Jobs stored before (a redelivered job) are read as they were stored.
	var before []any
	for _, r := range recs {
		if !created[r.JobID] {
			before = append(before, r.JobID)
		}
	}
	if len(before) > 0 {
		rows, err = s.db.QueryContext(ctx, `SELECT `+columns+`, job_id FROM notifications
			WHERE job_id IN `+placeholders(0, len(before)), before...)
		if err != nil {
			return nil, nil, fmt.Errorf("notification: read saved: %w", err)
		}
		err = eachRow(rows, func() error {
			var id string
			n, err := s.scan(rows, &id)
			stored[id] = n
			return err
		})
		if err != nil {
			return nil, nil, err
		}
	}
	out := make([]Notification, len(recs))
	outCreated := make([]bool, len(recs))
	for i, r := range recs {
		n, ok := stored[r.JobID]
		if !ok {
			return nil, nil, fmt.Errorf("notification: job %s was not stored", r.JobID)
		}
		out[i], outCreated[i] = n, created[r.JobID]
	}
	return out, outCreated, nil
}

// placeholders returns "($from+1, …, $from+n)".
func placeholders(from, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i + 1))
	}
	b.WriteByte(')')
	return b.String()
}

// eachRow calls fn for each row, then closes rows and returns the first
// error.
func eachRow(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

const columns = `id, user_id, type, data, channels, created_at, read_at`

// SetDelivery records a channel's state for a notification (the last
// call wins).
func (s *Store) SetDelivery(ctx context.Context, id int64, channel string, d Delivery) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO notification_deliveries (notification_id, channel, state, detail, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (notification_id, channel)
		DO UPDATE SET state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at`,
		id, channel, d.State, truncate(d.Detail, 500), time.Now().UTC().UnixMicro())
	if err != nil {
		return fmt.Errorf("notification: record delivery: %w", err)
	}
	return nil
}

// SkipCancelled records the channel's deliveries of the notifications ids
// skipped, detail cancelled, where they are still pending (none recorded
// yet, or a retry's pending), in one statement; it returns how many it
// changed. Ids of no stored notification are ignored.
func (s *Store) SkipCancelled(ctx context.Context, channel string, ids []int64) (int, error) {
	args := make([]any, 0, len(ids)+2)
	args = append(args, channel, time.Now().UTC().UnixMicro())
	for _, id := range ids {
		args = append(args, id)
	}
	// The WHERE of the SELECT also keeps SQLite from reading ON CONFLICT
	// as a join's constraint.
	res, err := s.db.ExecContext(ctx, `INSERT INTO notification_deliveries (notification_id, channel, state, detail, updated_at)
		SELECT id, $1, '`+StateSkipped+`', '`+DetailCancelled+`', $2 FROM notifications WHERE id IN `+placeholders(2, len(ids))+`
		ON CONFLICT (notification_id, channel) DO UPDATE
		SET state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at
		WHERE notification_deliveries.state = '`+StatePending+`'`, args...)
	if err != nil {
		return 0, fmt.Errorf("notification: record cancelled deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("notification: record cancelled deliveries: %w", err)
	}
	return int(n), nil
}

// DeliveryOf returns the recorded state of a channel's delivery, and
// false when none is recorded yet.
func (s *Store) DeliveryOf(ctx context.Context, id int64, channel string) (Delivery, bool, error) {
	var d Delivery
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT state, detail, updated_at FROM notification_deliveries
		WHERE notification_id = $1 AND channel = $2`, id, channel).Scan(&d.State, &d.Detail, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, false, nil
	}
	if err != nil {
		return Delivery{}, false, fmt.Errorf("notification: read delivery: %w", err)
	}
	t := time.UnixMicro(at).UTC()
	d.UpdatedAt = &t
	return d, true, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// List returns up to limit of the user's notifications, newest first,
// with ids below before (0: from the newest).
func (s *Store) List(ctx context.Context, userID int64, limit int, before int64) ([]Notification, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT n.id, n.user_id, n.type, n.data, n.channels, n.created_at, n.read_at,
			d.channel, d.state, d.detail, d.updated_at
		FROM (SELECT `+columns+` FROM notifications
			WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3) n
		LEFT JOIN notification_deliveries d ON d.notification_id = n.id
		ORDER BY n.id DESC`, userID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("notification: list: %w", err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		var ch, state, detail sql.NullString
		var at sql.NullInt64
		n, err := s.scan(rows, &ch, &state, &detail, &at)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != n.ID {
			out = append(out, n)
		}
		if ch.Valid {
			last := &out[len(out)-1]
			if last.Channels == nil {
				last.Channels = map[string]Delivery{}
			}
			t := time.UnixMicro(at.Int64).UTC()
			last.Channels[ch.String] = Delivery{State: state.String, Detail: detail.String, UpdatedAt: &t}
		}
	}
	return out, rows.Err()
}

// MarkRead sets read_at on the user's notification (once; a second call
// keeps the first time) and returns it, with its deliveries.
func (s *Store) MarkRead(ctx context.Context, userID, id int64) (Notification, error) {
	now := time.Now().UTC().Truncate(time.Microsecond).UnixMicro()
	if _, err := s.db.ExecContext(ctx, `UPDATE notifications SET read_at = $1
		WHERE id = $2 AND user_id = $3 AND read_at IS NULL`, now, id, userID); err != nil {
		return Notification{}, fmt.Errorf("notification: mark read: %w", err)
	}
	n, err := s.scanOne(s.db.QueryRowContext(ctx, `SELECT `+columns+`
		FROM notifications WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return Notification{}, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT channel, state, detail, updated_at FROM notification_deliveries
		WHERE notification_id = $1`, id)
	if err != nil {
		return Notification{}, fmt.Errorf("notification: read deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ch string
		var d Delivery
		var at int64
		if err := rows.Scan(&ch, &d.State, &d.Detail, &at); err != nil {
			return Notification{}, fmt.Errorf("notification: read deliveries: %w", err)
		}
		t := time.UnixMicro(at).UTC()
		d.UpdatedAt = &t
		if n.Channels == nil {
			n.Channels = map[string]Delivery{}
		}
		n.Channels[ch] = d
	}
	return n, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanOne(row scanner) (Notification, error) { return s.scan(row) }

// scan reads the columns of `columns`, then extra.
func (s *Store) scan(row scanner, extra ...any) (Notification, error) {
	var n Notification
	var data, plan string
	var created int64
	var read sql.NullInt64
	if err := row.Scan(append([]any{&n.ID, &n.UserID, &n.Type, &data, &plan, &created, &read}, extra...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Notification{}, ErrNotFound
		}
		return Notification{}, fmt.Errorf("notification: scan: %w", err)
	}
	if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
		return Notification{}, fmt.Errorf("notification: stored data: %w", err)
	}
	if err := json.Unmarshal([]byte(plan), &n.Channels); err != nil {
		return Notification{}, fmt.Errorf("notification: stored channels: %w", err)
	}
	if len(n.Channels) == 0 {
		n.Channels = nil
	}
	n.CreatedAt = time.UnixMicro(created).UTC()
	if read.Valid {
		t := time.UnixMicro(read.Int64).UTC()
		n.ReadAt = &t
	}
	return n, nil
}
