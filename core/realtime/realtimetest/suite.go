package realtimetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/realtime"
)

// Backend opens, for one test, a way to make buses that share a backend,
// as the processes of one deployment do (for Redis: a new client on the
// same server and channel each call; for memory: the same bus). Buses are
// closed when the test ends.
type Backend func(t testing.TB) (newBus func() realtime.Bus)

// BusSuite runs the contract every realtime.Bus keeps.
func BusSuite(t *testing.T, open Backend) {
	t.Run("FanOutInOrder", func(t *testing.T) {
		t.Parallel()
		newBus := open(t)
		a, b, pub := newBus(), newBus(), newBus()
		ca, cb := subscribe(t, a), subscribe(t, b)
		const n = 50
		for i := range n {
			mustPublish(t, pub, realtime.Event{UserID: int64(i%3 + 1), Payload: payload(i)})
		}
		for _, c := range []chan realtime.Event{ca, cb} {
			for i := range n {
				ev := next(t, c)
				if ev.UserID != int64(i%3+1) || string(ev.Payload) != string(payload(i)) {
					t.Fatalf("event %d: got user %d %s", i, ev.UserID, ev.Payload)
				}
			}
		}
	})
	t.Run("PayloadBytesUnchanged", func(t *testing.T) {
		t.Parallel()
		newBus := open(t)
		sub, pub := newBus(), newBus()
		c := subscribe(t, sub)
		p := `{"type":"NEW_BADGE","badgeName":"First Post","badgeIcon":"🎯","nested":{"a":[1,2]},"s":"\"quoted\""}`
		mustPublish(t, pub, realtime.Event{UserID: 42, Payload: []byte(p)})
		if ev := next(t, c); ev.UserID != 42 || string(ev.Payload) != p {
			t.Fatalf("got %d %s", ev.UserID, ev.Payload)
		}
	})
	t.Run("UnsubscribeStopsDelivery", func(t *testing.T) {
		t.Parallel()
		newBus := open(t)
		a, b, pub := newBus(), newBus(), newBus()
		ca := make(chan realtime.Event, 100)
		closeA, err := a.Subscribe(context.Background(), func(ev realtime.Event) { ca <- ev })
		if err != nil {
			t.Fatal(err)
		}
		cb := subscribe(t, b)
		mustPublish(t, pub, realtime.Event{UserID: 1, Payload: payload(0)})
		next(t, ca)
		next(t, cb)
		closeA()
		closeA() // idempotent
		mustPublish(t, pub, realtime.Event{UserID: 1, Payload: payload(1)})
		next(t, cb) // delivered to the remaining subscriber: the bus is done with it
		select {
		case ev := <-ca:
			t.Fatalf("closed subscription got %s", ev.Payload)
		default:
		}
	})
	t.Run("ClosedBusRefusesPublish", func(t *testing.T) {
		t.Parallel()
		b := open(t)()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		err := b.Publish(context.Background(), realtime.Event{UserID: 1, Payload: payload(0)})
		if !errors.Is(err, realtime.ErrClosed) {
			t.Fatalf("publish after close: %v", err)
		}
	})
}

func payload(i int) []byte { return fmt.Appendf(nil, `{"type":"TEST","n":%d}`, i) }

func subscribe(t testing.TB, b realtime.Bus) chan realtime.Event {
	t.Helper()
	c := make(chan realtime.Event, 1000)
	closeSub, err := b.Subscribe(context.Background(), func(ev realtime.Event) { c <- ev })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeSub)
	return c
}

func mustPublish(t testing.TB, b realtime.Bus, ev realtime.Event) {
	t.Helper()
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

func next(t testing.TB, c chan realtime.Event) realtime.Event {
	t.Helper()
	select {
	case ev := <-c:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return realtime.Event{}
	}
}
