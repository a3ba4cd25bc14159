package gamification

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/modules/user"
)

// Store is the module's SQL. Safe for concurrent use.
type Store struct {
	db *database.DB
}

// NewStore returns a store on db (the "gamification" migrations applied).
func NewStore(db *database.DB) *Store { return &Store{db: db} }

// Badges lists the catalogue by id.
func (s *Store) Badges(ctx context.Context) ([]Badge, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, icon, description FROM badges ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("gamification: badges: %w", err)
	}
	defer rows.Close()
	out := []Badge{}
	for rows.Next() {
		var b Badge
		if err := rows.Scan(&b.ID, &b.Name, &b.Icon, &b.Description); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// AddBadge adds a catalogue entry (used by tests and seeding tools).
func (s *Store) AddBadge(ctx context.Context, b Badge) (Badge, error) {
	err := s.db.QueryRowContext(ctx, `INSERT INTO badges (name, icon, description) VALUES ($1, $2, $3) RETURNING id`,
		b.Name, b.Icon, b.Description).Scan(&b.ID)
	if err != nil {
		return Badge{}, fmt.Errorf("gamification: add badge: %w", err)
	}
	return b, nil
}

// BadgesOf implements user.BadgeSource: the user's badges, oldest first.
func (s *Store) BadgesOf(ctx context.Context, userID int64) ([]user.Badge, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, b.name, b.icon, ub.granted_at
		FROM user_badges ub JOIN badges b ON b.id = ub.badge_id
		WHERE ub.user_id = $1 ORDER BY ub.granted_at, b.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("gamification: badges of %d: %w", userID, err)
	}
	defer rows.Close()
	out := []user.Badge{}
	for rows.Next() {
		var b user.Badge
		var at int64
		if err := rows.Scan(&b.ID, &b.Name, &b.Icon, &at); err != nil {
			return nil, err
		}
		b.GrantedAt = time.UnixMicro(at).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// JobID is the notification job id of a grant: stable, so a notification
// enqueued twice (a re-flushed outbox row) is one job.
func JobID(userID, badgeID int64) string { return fmt.Sprintf("badge-%d-%d", userID, badgeID) }

// Grant records the grant and its notification in one transaction: the
// NEW_BADGE job itself when enqueue is set (a queue that enqueues inside
// the transaction), else an outbox row.
func (s *Store) Grant(ctx context.Context, userID, badgeID int64, enqueue func(tx *sql.Tx, jobID string, payload []byte) error) (Grant, error) {
	g, _, err := s.grant(ctx, userID, badgeID, enqueue)
	return g, err
}

// grant is Grant that also returns the notification payload, for the
// caller to enqueue at once when it went to the outbox.
func (s *Store) grant(ctx context.Context, userID, badgeID int64, enqueue func(tx *sql.Tx, jobID string, payload []byte) error) (Grant, json.RawMessage, error) {
	g := Grant{UserID: userID, BadgeID: badgeID, GrantedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if enqueue == nil {
		res, err := s.grantMany(ctx, []Grant{g})
		if err != nil {
			return Grant{}, nil, err
		}
		return res[0].grant, res[0].payload, res[0].err
	}
	var r grantResult
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = grantInTx(ctx, tx, g, enqueue); err == nil {
			err = r.err // nothing was written: roll back
		}
		return err
	})
	switch {
	case errors.Is(err, ErrBadgeNotFound) || errors.Is(err, ErrAlreadyGranted):
		return Grant{}, nil, err
	case err != nil:
		return Grant{}, nil, fmt.Errorf("gamification: grant: %w", err)
	}
	return r.grant, r.payload, nil
}

// grantInTx writes g in tx with its notification: the job, through
// enqueue when it is set, else an outbox row. ErrBadgeNotFound and
// ErrAlreadyGranted are the result's error and leave tx usable: nothing
// was written for g. The error is the database's.
func grantInTx(ctx context.Context, tx *sql.Tx, g Grant, enqueue func(tx *sql.Tx, jobID string, payload []byte) error) (grantResult, error) {
	err := tx.QueryRowContext(ctx, `SELECT name, icon FROM badges WHERE id = $1`, g.BadgeID).Scan(&g.BadgeName, &g.BadgeIcon)
	if errors.Is(err, sql.ErrNoRows) {
		return grantResult{err: ErrBadgeNotFound}, nil
	}
	if err != nil {
		return grantResult{}, err
	}
	// ON CONFLICT DO NOTHING keeps the transaction usable on PostgreSQL
	// (a failed INSERT would abort it); no row back means granted before.
	res, err := tx.ExecContext(ctx, `INSERT INTO user_badges (user_id, badge_id, granted_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, badge_id) DO NOTHING`, g.UserID, g.BadgeID, g.GrantedAt.UnixMicro())
	if err != nil {
		return grantResult{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return grantResult{}, err
	} else if n == 0 {
		return grantResult{err: ErrAlreadyGranted}, nil
	}
	payload, err := json.Marshal(NewBadgeEvent{Type: NewBadgeJob, UserID: g.UserID, BadgeID: g.BadgeID,
		BadgeName: g.BadgeName, BadgeIcon: g.BadgeIcon, GrantedAt: g.GrantedAt})
	if err != nil {
		return grantResult{}, err
	}
	if enqueue != nil {
		err = enqueue(tx, JobID(g.UserID, g.BadgeID), payload)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO gamification_outbox (job_id, payload, created_at) VALUES ($1, $2, $3)`,
			JobID(g.UserID, g.BadgeID), string(payload), g.GrantedAt.UnixMicro())
	}
	if err != nil {
		return grantResult{}, err
	}
	return grantResult{grant: g, payload: payload}, nil
}

// grantsSQL is a batch of grants with their outbox rows in one PostgreSQL
// statement: a statement is atomic on its own, so the batch costs one
// round trip and one commit where a transaction per grant costs five round
// trips each (BEGIN, the badge, two INSERTs, COMMIT). The outbox payloads
// are built by the statement and returned, so the queue gets the very
// bytes the outbox holds. One row back per grant whose badge exists
// (matched by ord, the grant's place in the batch); a NULL payload:
// granted before. The grants are inserted in key order, so two batches
// running at once wait on each other's rows, never deadlock.
const grantsSQL = `WITH r AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[])
		WITH ORDINALITY AS r(user_id, badge_id, granted_at, job_id, granted_text, ord)),
	b AS (SELECT r.ord, r.user_id, r.granted_at, r.job_id, r.granted_text, badges.id, badges.name, badges.icon
		FROM r JOIN badges ON badges.id = r.badge_id),
	g AS (INSERT INTO user_badges (user_id, badge_id, granted_at)
		SELECT user_id, id, granted_at FROM b ORDER BY user_id, id
		ON CONFLICT (user_id, badge_id) DO NOTHING RETURNING user_id, badge_id),
	o AS (INSERT INTO gamification_outbox (job_id, payload, created_at)
		SELECT b.job_id, json_build_object('type', $6::text, 'userId', b.user_id, 'badgeId', b.id,
			'badgeName', b.name, 'badgeIcon', b.icon, 'grantedAt', b.granted_text)::text, b.granted_at
		FROM g JOIN b ON b.user_id = g.user_id AND b.id = g.badge_id ORDER BY b.job_id RETURNING job_id, payload)
	SELECT b.ord, b.name, b.icon, o.payload FROM b LEFT JOIN o ON o.job_id = b.job_id`

// grantMany commits the grants, each with its outbox row, in one statement
// (PostgreSQL) or one transaction (SQLite), and returns one result per
// grant, in order: the grant with its payload, ErrBadgeNotFound or
// ErrAlreadyGranted. The grants must be of distinct (user, badge) pairs.
// An error fails the whole batch: nothing of it was committed.
func (s *Store) grantMany(ctx context.Context, gs []Grant) ([]grantResult, error) {
	if s.db.Dialect.Name() == "postgres" {
		return s.grantStatement(ctx, gs)
	}
	out := make([]grantResult, len(gs))
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		for i, g := range gs {
			r, err := grantInTx(ctx, tx, g, nil)
			if err != nil {
				return err
			}
			out[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gamification: grant: %w", err)
	}
	return out, nil
}

// grantStatement is grantMany on PostgreSQL.
func (s *Store) grantStatement(ctx context.Context, gs []Grant) ([]grantResult, error) {
	users, badges, at := make([]int64, len(gs)), make([]int64, len(gs)), make([]int64, len(gs))
	jobs, atText := make([]string, len(gs)), make([]string, len(gs))
	for i, g := range gs {
		// grantedAt as encoding/json writes a time.Time (RFC 3339, UTC here).
		t, err := g.GrantedAt.MarshalText()
		if err != nil {
			return nil, err
		}
		users[i], badges[i], at[i] = g.UserID, g.BadgeID, g.GrantedAt.UnixMicro()
		jobs[i], atText[i] = JobID(g.UserID, g.BadgeID), string(t)
	}
	rows, err := s.db.QueryContext(ctx, grantsSQL, users, badges, at, jobs, atText, NewBadgeJob)
	if err != nil {
		return nil, fmt.Errorf("gamification: grant: %w", err)
	}
	defer rows.Close()
	out := make([]grantResult, len(gs))
	for i := range out {
		out[i].err = ErrBadgeNotFound // unless the badge's row comes back
	}
	for rows.Next() {
		var ord int64
		var name, icon string
		var payload sql.NullString
		if err := rows.Scan(&ord, &name, &icon, &payload); err != nil {
			return nil, fmt.Errorf("gamification: grant: %w", err)
		}
		if ord < 1 || ord > int64(len(gs)) {
			return nil, fmt.Errorf("gamification: grant: row %d of a batch of %d", ord, len(gs))
		}
		g := gs[ord-1]
		g.BadgeName, g.BadgeIcon = name, icon
		if !payload.Valid {
			out[ord-1] = grantResult{err: ErrAlreadyGranted}
			continue
		}
		out[ord-1] = grantResult{grant: g, payload: json.RawMessage(payload.String)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gamification: grant: %w", err)
	}
	return out, nil
}

// outboxRow is a notification not yet handed to the queue.
type outboxRow struct {
	ID      int64
	JobID   string
	Payload json.RawMessage
}

// pendingOutbox returns up to limit rows written before before, oldest first.
func (s *Store) pendingOutbox(ctx context.Context, before time.Time, limit int) ([]outboxRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, job_id, payload FROM gamification_outbox
		WHERE created_at < $1 ORDER BY id LIMIT $2`, before.UnixMicro(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		var p string
		if err := rows.Scan(&r.ID, &r.JobID, &p); err != nil {
			return nil, err
		}
		r.Payload = json.RawMessage(p)
		out = append(out, r)
	}
	return out, rows.Err()
}

// deleteOutbox removes rows by id, in one statement.
func (s *Store) deleteOutbox(ctx context.Context, ids []int64) error {
	return deleteOutboxWhere(ctx, s, "id", ids)
}

// deleteOutboxJobs removes the rows of these notification jobs, in one
// statement.
func (s *Store) deleteOutboxJobs(ctx context.Context, jobIDs []string) error {
	return deleteOutboxWhere(ctx, s, "job_id", jobIDs)
}

// deleteOutboxWhere deletes the outbox rows whose column (a constant of
// this file, never input) holds one of values.
func deleteOutboxWhere[T any](ctx context.Context, s *Store, column string, values []T) error {
	if len(values) == 0 {
		return nil
	}
	var q strings.Builder
	args := make([]any, len(values))
	q.WriteString(`DELETE FROM gamification_outbox WHERE ` + column + ` IN (`)
	for i, v := range values {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "$%d", i+1)
		args[i] = v
	}
	q.WriteString(")")
	_, err := s.db.ExecContext(ctx, q.String(), args...)
	return err
}
