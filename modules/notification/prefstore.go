package notification

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tipbox/tipbox/core/database"
	"github.com/tipbox/tipbox/core/push"
)

// ErrSubscriptionNotFound is returned when removing an endpoint the user
// has not subscribed.
var ErrSubscriptionNotFound = errors.New("notification: push subscription not found")

// PrefStore keeps users' preferences and push subscriptions. Safe for
// concurrent use.
type PrefStore struct{ db *database.DB }

// NewPrefStore returns a store on db (the "notification" migrations applied).
func NewPrefStore(db *database.DB) *PrefStore { return &PrefStore{db: db} }

// Get returns the user's stored preferences (zero when none are stored).
func (s *PrefStore) Get(ctx context.Context, userID int64) (Preferences, error) {
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT data FROM notification_preferences WHERE user_id = $1`, userID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Preferences{}, nil
	}
	if err != nil {
		return Preferences{}, fmt.Errorf("notification: read preferences: %w", err)
	}
	return decodePrefs(raw)
}

// ForFanout returns, in one round trip, each user's stored preferences
// (absent: none stored) and push subscription count (absent: none).
func (s *PrefStore) ForFanout(ctx context.Context, userIDs []int64) (map[int64]Preferences, map[int64]int, error) {
	n := len(userIDs)
	args := make([]any, 0, 2*n)
	for range 2 {
		for _, id := range userIDs {
			args = append(args, id)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, data, 0 FROM notification_preferences
		WHERE user_id IN `+placeholders(0, n)+`
		UNION ALL SELECT user_id, NULL, COUNT(*) FROM push_subscriptions
		WHERE user_id IN `+placeholders(n, n)+` GROUP BY user_id`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("notification: read preferences: %w", err)
	}
	prefs, subs := map[int64]Preferences{}, map[int64]int{}
	err = eachRow(rows, func() error {
		var id int64
		var raw sql.NullString
		var count int
		if err := rows.Scan(&id, &raw, &count); err != nil {
			return fmt.Errorf("notification: read preferences: %w", err)
		}
		if !raw.Valid {
			subs[id] = count
			return nil
		}
		p, err := decodePrefs(raw.String)
		prefs[id] = p
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return prefs, subs, nil
}

func decodePrefs(raw string) (Preferences, error) {
	var p Preferences
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return Preferences{}, fmt.Errorf("notification: stored preferences: %w", err)
	}
	return p, nil
}

// Update applies fn to the user's stored preferences in one transaction
// and stores what it returns.
func (s *PrefStore) Update(ctx context.Context, userID int64, fn func(Preferences) (Preferences, error)) (Preferences, error) {
	var out Preferences
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var raw string
		// Taking the row's lock first (an upsert that changes nothing)
		// serialises concurrent updates of one user on both databases.
		if _, err := tx.ExecContext(ctx, `INSERT INTO notification_preferences (user_id, data, updated_at)
			VALUES ($1, '{}', $2) ON CONFLICT (user_id) DO UPDATE SET updated_at = excluded.updated_at`,
			userID, time.Now().UnixMicro()); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT data FROM notification_preferences WHERE user_id = $1`, userID).Scan(&raw); err != nil {
			return err
		}
		cur, err := decodePrefs(raw)
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notification_preferences SET data = $1, updated_at = $2 WHERE user_id = $3`,
			string(b), time.Now().UnixMicro(), userID); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil && !errors.Is(err, ErrInvalidPrefs) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrUnknownChannel) {
		return Preferences{}, fmt.Errorf("notification: update preferences: %w", err)
	}
	return out, err
}

// Subscription is a stored push subscription.
type Subscription struct {
	ID        int64             `json:"id"`
	UserID    int64             `json:"userId"`
	Endpoint  string            `json:"endpoint"`
	CreatedAt time.Time         `json:"createdAt"`
	Keys      push.Subscription `json:"-"`
}

// Subscribe stores sub for the user; an endpoint already stored (for
// this or another user) is taken over with the new keys.
func (s *PrefStore) Subscribe(ctx context.Context, userID int64, sub push.Subscription) (Subscription, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	_, err := s.db.ExecContext(ctx, `INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint)
		DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at`,
		userID, sub.Endpoint, sub.P256dh, sub.Auth, now.UnixMicro())
	if err != nil {
		return Subscription{}, fmt.Errorf("notification: subscribe: %w", err)
	}
	var out Subscription
	var created int64
	if err := s.db.QueryRowContext(ctx, `SELECT id, created_at FROM push_subscriptions WHERE endpoint = $1`, sub.Endpoint).
		Scan(&out.ID, &created); err != nil {
		return Subscription{}, fmt.Errorf("notification: subscribe: %w", err)
	}
	out.UserID, out.Endpoint, out.Keys, out.CreatedAt = userID, sub.Endpoint, sub, time.UnixMicro(created).UTC()
	return out, nil
}

// Unsubscribe removes the user's endpoint (ErrSubscriptionNotFound when the
// user has no such subscription).
func (s *PrefStore) Unsubscribe(ctx context.Context, userID int64, endpoint string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2`, userID, endpoint)
	if err != nil {
		return fmt.Errorf("notification: unsubscribe: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrSubscriptionNotFound
	}
	return nil
}

// Forget removes a subscription by endpoint, whoever owns it (the push
// service said it is gone).
func (s *PrefStore) Forget(ctx context.Context, endpoint string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE endpoint = $1`, endpoint); err != nil {
		return fmt.Errorf("notification: forget subscription: %w", err)
	}
	return nil
}

// Subscriptions lists the user's subscriptions, oldest first.
func (s *PrefStore) Subscriptions(ctx context.Context, userID int64) ([]Subscription, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, endpoint, p256dh, auth, created_at FROM push_subscriptions
		WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("notification: list subscriptions: %w", err)
	}
	defer rows.Close()
	out := []Subscription{}
	for rows.Next() {
		var sub Subscription
		var created int64
		if err := rows.Scan(&sub.ID, &sub.Endpoint, &sub.Keys.P256dh, &sub.Keys.Auth, &created); err != nil {
			return nil, fmt.Errorf("notification: list subscriptions: %w", err)
		}
		sub.UserID, sub.Keys.Endpoint, sub.CreatedAt = userID, sub.Endpoint, time.UnixMicro(created).UTC()
		out = append(out, sub)
	}
	return out, rows.Err()
}
