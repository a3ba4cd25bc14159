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
	now := time.Now().UTC().Truncate(time.Microsecond)
	g := Grant{UserID: userID, BadgeID: badgeID, GrantedAt: now}
	if enqueue == nil && s.db.Dialect.Name() == "postgres" {
		return s.grantStatement(ctx, g)
	}
	var payload []byte
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT name, icon FROM badges WHERE id = $1`, badgeID).Scan(&g.BadgeName, &g.BadgeIcon)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrBadgeNotFound
		}
		if err != nil {
			return err
		}
		// ON CONFLICT DO NOTHING keeps the transaction usable on PostgreSQL
		// (a failed INSERT would abort it); no row back means granted before.
		res, err := tx.ExecContext(ctx, `INSERT INTO user_badges (user_id, badge_id, granted_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, badge_id) DO NOTHING`, userID, badgeID, now.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrAlreadyGranted
		}
		payload, err = json.Marshal(NewBadgeEvent{Type: NewBadgeJob, UserID: userID, BadgeID: badgeID,
			BadgeName: g.BadgeName, BadgeIcon: g.BadgeIcon, GrantedAt: now})
		if err != nil {
			return err
		}
		if enqueue != nil {
			return enqueue(tx, JobID(userID, badgeID), payload)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO gamification_outbox (job_id, payload, created_at) VALUES ($1, $2, $3)`,
			JobID(userID, badgeID), string(payload), now.UnixMicro())
		return err
	})
	if err != nil {
		if errors.Is(err, ErrBadgeNotFound) || errors.Is(err, ErrAlreadyGranted) {
			return Grant{}, nil, err
		}
		return Grant{}, nil, fmt.Errorf("gamification: grant: %w", err)
	}
	return g, payload, nil
}

// grantSQL is a grant with its outbox row in one PostgreSQL statement: a
// statement is atomic on its own, so the grant costs one round trip where
// the transaction costs five (BEGIN, the badge, two INSERTs, COMMIT). The
// outbox payload is built by the statement and returned, so the queue gets
// the very bytes the outbox holds. No row: no such badge; a NULL payload:
// granted before.
const grantSQL = `WITH b AS (SELECT id, name, icon FROM badges WHERE id = $2),
	g AS (INSERT INTO user_badges (user_id, badge_id, granted_at)
		SELECT $1, id, $3 FROM b ON CONFLICT (user_id, badge_id) DO NOTHING RETURNING badge_id),
	o AS (INSERT INTO gamification_outbox (job_id, payload, created_at)
		SELECT $4, json_build_object('type', $5::text, 'userId', $1::bigint, 'badgeId', b.id,
			'badgeName', b.name, 'badgeIcon', b.icon, 'grantedAt', $6::text)::text, $3
		FROM g JOIN b ON b.id = g.badge_id RETURNING payload)
	SELECT b.name, b.icon, (SELECT payload FROM o) FROM b`

// grantStatement is grant on PostgreSQL with no queue in the transaction.
func (s *Store) grantStatement(ctx context.Context, g Grant) (Grant, json.RawMessage, error) {
	// grantedAt as encoding/json writes a time.Time (RFC 3339, UTC here).
	at, err := g.GrantedAt.MarshalText()
	if err != nil {
		return Grant{}, nil, err
	}
	var payload sql.NullString
	err = s.db.QueryRowContext(ctx, grantSQL, g.UserID, g.BadgeID, g.GrantedAt.UnixMicro(),
		JobID(g.UserID, g.BadgeID), NewBadgeJob, string(at)).Scan(&g.BadgeName, &g.BadgeIcon, &payload)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Grant{}, nil, ErrBadgeNotFound
	case err != nil:
		return Grant{}, nil, fmt.Errorf("gamification: grant: %w", err)
	case !payload.Valid:
		return Grant{}, nil, ErrAlreadyGranted
	}
	return g, json.RawMessage(payload.String), nil
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
