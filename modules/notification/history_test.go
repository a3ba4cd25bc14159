package notification_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/tipbox/tipbox/internal/dbtest"
	"github.com/tipbox/tipbox/modules/notification"
)

// The replay source returns what a reconnecting client missed as it was
// pushed (no channels' states), and says it is incomplete when it left
// events out, for replay.limit or for replay.max_age: a Socket.IO client is
// told it was recovered only when it was sent everything.
func TestHistoryReplaysAsPushedAndReportsWhatItLeftOut(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, backend string) {
		store := newStore(t, backend)
		h := notification.NewHistory(store)
		ctx := t.Context()
		save := func(i int) notification.Notification {
			t.Helper()
			plan := map[string]notification.Delivery{"email": {State: notification.StatePending}}
			n, _, err := store.Save(ctx, "h"+strconv.Itoa(i), 9, "NEW_BADGE", map[string]json.RawMessage{"n": json.RawMessage(strconv.Itoa(i))}, plan)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		first := save(1)
		// Everything saved from here on is at or after mid; first is older.
		var mid time.Time
		for mid = time.Now(); !mid.Truncate(time.Microsecond).After(first.CreatedAt); mid = time.Now() {
		}
		second, third := save(2), save(3)
		for _, tc := range []struct {
			name      string
			after     int64
			notBefore time.Time
			limit     int
			want      []int64
			truncated bool
		}{
			{"all", 0, time.Now().Add(-time.Hour), 10, []int64{first.ID, second.ID, third.ID}, false},
			{"over the limit", 0, time.Now().Add(-time.Hour), 2, []int64{second.ID, third.ID}, true},
			{"the first too old", 0, mid, 10, []int64{second.ID, third.ID}, true},
			{"the first already seen", first.ID, mid, 10, []int64{second.ID, third.ID}, false},
			{"all too old", 0, time.Now().Add(time.Hour), 10, nil, true},
			{"nothing missed", third.ID, time.Now().Add(time.Hour), 10, nil, false},
		} {
			evs, truncated, err := h.After(ctx, 9, tc.after, tc.notBefore, tc.limit)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var got []int64
			for _, e := range evs {
				got = append(got, e.ID)
				var frame map[string]any
				if err := json.Unmarshal(e.Payload, &frame); err != nil {
					t.Fatal(err)
				}
				if _, ok := frame["channels"]; ok || frame["id"] != strconv.FormatInt(e.ID, 10) {
					t.Fatalf("%s: replayed %s: the pushed frame has the id and no channels", tc.name, e.Payload)
				}
			}
			if len(got) != len(tc.want) || truncated != tc.truncated {
				t.Fatalf("%s: got %v truncated %v, want %v truncated %v", tc.name, got, truncated, tc.want, tc.truncated)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%s: got %v, want %v", tc.name, got, tc.want)
				}
			}
		}
	})
}
