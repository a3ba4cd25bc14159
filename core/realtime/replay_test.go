package realtime_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/realtime"
	rt "github.com/tipbox/tipbox/core/realtime/realtimetest"
)

// memHistory is an in-memory History; during, if set, runs inside After
// (to publish while a replay is being read).
type memHistory struct {
	mu     sync.Mutex
	events map[int64][]realtime.Stored
	next   int64
	during func()
}

func (m *memHistory) store(user int64) realtime.Stored {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	e := realtime.Stored{ID: m.next, Payload: fmt.Appendf(nil, `{"type":"T","id":"%d"}`, m.next)}
	m.events[user] = append(m.events[user], e)
	return e
}

func (m *memHistory) After(_ context.Context, user, after int64, _ time.Time, limit int) ([]realtime.Stored, bool, error) {
	m.mu.Lock()
	var out []realtime.Stored
	for _, e := range m.events[user] {
		if e.ID > after {
			out = append(out, e)
		}
	}
	during := m.during
	m.mu.Unlock()
	if during != nil {
		during()
	}
	truncated := len(out) > limit
	if truncated {
		out = out[len(out)-limit:]
	}
	return out, truncated, nil
}

// A client reconnecting with ?since=<id> gets what it missed, in order,
// then live events, with neither a gap nor a duplicate, including events
// published while the replay is being read (one stored before the read,
// one after).
func TestReplaySinceThenLive(t *testing.T) {
	t.Parallel()
	h := &memHistory{events: map[int64][]realtime.Stored{}}
	s := rt.StartServer(t, realtime.Config{}, nil, rt.Options{History: h})
	for range 7 {
		h.store(1)
	}
	seen := int64(2)
	stored := h.store(1) // 8: stored before the read, published during it
	duringDone := make(chan struct{})
	h.during = func() {
		defer close(duringDone)
		h.mu.Lock()
		h.during = nil
		h.mu.Unlock()
		s.Hub.Deliver(realtime.Event{UserID: 1, Payload: stored.Payload})
		late := h.store(1) // 9: stored after the read, published during it
		s.Hub.Deliver(realtime.Event{UserID: 1, Payload: late.Payload})
	}
	c, resp, err := rt.Dial(fmt.Sprintf("%s?since=%d", s.URL, seen), http.Header{"Authorization": {"Bearer " + s.Token(t, 1)}})
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, rt.Status(resp))
	}
	defer c.Close()
	// The replay is read after the handshake, maybe after Dial returned:
	// the live event is stored once the read is done and the events
	// published during it (8, 9) were handed to the hub; waiting only for
	// the read to start let 10 reach the hub before 9 (seen in CI).
	select {
	case <-duringDone:
	case <-time.After(5 * time.Second):
		t.Fatal("replay read not done")
	}
	live := h.store(1)
	s.Hub.Deliver(realtime.Event{UserID: 1, Payload: live.Payload})
	var got []string
	for range 8 {
		got = append(got, string(rt.Read(t, c, 5*time.Second)))
	}
	for i, g := range got {
		if want := fmt.Sprintf(`{"type":"T","id":"%d"}`, i+3); g != want {
			t.Fatalf("frame %d: %s, want %s (all: %v)", i, g, want, got)
		}
	}
	if n := s.Counter(t, "tipbox_realtime_events_replayed_total"); n != 6 { // 3..8
		t.Fatalf("replayed %v", n)
	}
}

// The replay is bounded by replay.limit: the newest ones.
func TestReplayIsBounded(t *testing.T) {
	t.Parallel()
	h := &memHistory{events: map[int64][]realtime.Stored{}}
	s := rt.StartServer(t, realtime.Config{Replay: realtime.ReplayConfig{Limit: 3}}, nil, rt.Options{History: h})
	for range 10 {
		h.store(1)
	}
	c, resp, err := rt.Dial(s.URL+"?since=0&token="+s.Token(t, 1), nil)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, rt.Status(resp))
	}
	defer c.Close()
	for i := 8; i <= 10; i++ {
		if got, want := string(rt.Read(t, c, 5*time.Second)), fmt.Sprintf(`{"type":"T","id":"%d"}`, i); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	_, resp, err = rt.Dial(s.URL+"?since=abc&token="+s.Token(t, 1), nil)
	if err == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("since=abc: %v %s", err, rt.Status(resp))
	}
}
