package notification

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tipbox/tipbox/core/realtime"
)

// History is the inbox seen as the realtime replay source: a reconnecting
// client names the id of the last notification it received and is sent
// the ones stored after it, as they were pushed.
//
// Ordering: ids come from the database (SQLite INTEGER PRIMARY KEY
// AUTOINCREMENT, PostgreSQL an identity column) and increase in insertion
// order. On SQLite, where one writer commits at a time, that is commit
// order. On PostgreSQL two inserts for the same user that overlap commit
// in either order, so a client that saw the later id may miss the earlier
// one on replay; the window is one INSERT statement.
type History struct{ store *Store }

// NewHistory returns the History over store.
func NewHistory(store *Store) *History { return &History{store: store} }

// After implements realtime.History: the user's notifications with ids
// above afterID, created at or after notBefore, oldest first; the newest
// limit of them when there are more.
func (h *History) After(ctx context.Context, userID, afterID int64, notBefore time.Time, limit int) ([]realtime.Stored, bool, error) {
	rows, err := h.store.db.QueryContext(ctx, `SELECT `+columns+` FROM notifications
		WHERE user_id = $1 AND id > $2 AND created_at >= $3 ORDER BY id DESC LIMIT $4`,
		userID, afterID, notBefore.UTC().UnixMicro(), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("notification: history: %w", err)
	}
	defer rows.Close()
	var out []realtime.Stored
	for rows.Next() {
		n, err := h.store.scanOne(rows)
		if err != nil {
			return nil, false, err
		}
		payload, err := json.Marshal(n)
		if err != nil {
			return nil, false, err
		}
		out = append(out, realtime.Stored{ID: n.ID, Payload: payload})
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("notification: history: %w", err)
	}
	truncated := len(out) > limit
	if truncated {
		out = out[:limit]
	}
	slices.Reverse(out)
	return out, truncated, nil
}

var _ realtime.History = (*History)(nil)
