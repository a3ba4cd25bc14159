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
// limit of them when there are more. truncated says some were left out:
// more than limit, or older than notBefore. The newest limit+1 after
// afterID are read whatever their age, so that an old one among them is
// seen (and, when there are fewer, all of them are).
func (h *History) After(ctx context.Context, userID, afterID int64, notBefore time.Time, limit int) ([]realtime.Stored, bool, error) {
	rows, err := h.store.db.QueryContext(ctx, `SELECT `+columns+` FROM notifications
		WHERE user_id = $1 AND id > $2 ORDER BY id DESC LIMIT $3`,
		userID, afterID, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("notification: history: %w", err)
	}
	defer rows.Close()
	oldest := notBefore.UTC().Truncate(time.Microsecond)
	var out []realtime.Stored
	truncated := false
	for rows.Next() {
		n, err := h.store.scanOne(rows)
		if err != nil {
			return nil, false, err
		}
		if n.CreatedAt.Before(oldest) {
			truncated = true
			continue
		}
		n.Channels = nil // as pushed: the socket frame carries no channels' states
		payload, err := json.Marshal(n)
		if err != nil {
			return nil, false, err
		}
		out = append(out, realtime.Stored{ID: n.ID, Payload: payload})
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("notification: history: %w", err)
	}
	if len(out) > limit {
		out, truncated = out[:limit], true
	}
	slices.Reverse(out)
	return out, truncated, nil
}

var _ realtime.History = (*History)(nil)
