package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// EventHub fans each queue's events out to the event streams open in this
// process: one reader per queue (while the queue has listeners) however
// many streams are open, so a dashboard tab costs a channel send per
// event, not a backend read. A listener that falls behind by more than
// its buffer is dropped (its stream ends; the client resumes from its
// Last-Event-ID). Safe for concurrent use.
type EventHub struct {
	store  Store
	logger *slog.Logger
	buffer int
	// Gather is how long a queue's reader waits, after a read that found
	// events, before it reads again: a busy queue's events are then read
	// and handed on in batches, a few reads a second, instead of one
	// read, and one wake-up of every stream, per event. It adds up to
	// Gather to an event's delivery. Set it before the first Listen.
	Gather time.Duration

	mu     sync.Mutex
	tails  map[string]*eventTail
	closed bool
}

type eventTail struct {
	subs   map[*EventListener]struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// EventListener receives one queue's live events on C, which is closed
// when the listener is dropped, unsubscribed or the hub closes.
type EventListener struct {
	C     <-chan Event
	c     chan Event
	queue string
	hub   *EventHub
	once  sync.Once
}

// NewEventHub returns a hub over store; buffer is each listener's channel
// size (0: 1024). Its Gather is 20 ms.
func NewEventHub(store Store, logger *slog.Logger, buffer int) *EventHub {
	if buffer <= 0 {
		buffer = 1024
	}
	return &EventHub{store: store, logger: logger, buffer: buffer, tails: map[string]*eventTail{}, Gather: 20 * time.Millisecond}
}

// Listen returns a listener for queue's events from now on.
func (h *EventHub) Listen(queue string) (*EventListener, error) {
	c := make(chan Event, h.buffer)
	l := &EventListener{C: c, c: c, queue: queue, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	t, ok := h.tails[queue]
	if !ok {
		// The tail's position is read before Listen returns, so nothing
		// published after it is missed.
		ctx, cancel := context.WithCancel(context.Background())
		st, err := h.store.Stats(ctx, queue)
		if err != nil {
			cancel()
			return nil, err
		}
		start := st.LastEvent
		t = &eventTail{subs: map[*EventListener]struct{}{}, cancel: cancel, done: make(chan struct{})}
		h.tails[queue] = t
		go h.tail(ctx, queue, start, t)
	}
	t.subs[l] = struct{}{}
	return l, nil
}

// Close stops listening (idempotent).
func (l *EventListener) Close() { l.hub.drop(l) }

func (h *EventHub) drop(l *EventListener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l.once.Do(func() { close(l.c) })
	t, ok := h.tails[l.queue]
	if !ok {
		return
	}
	delete(t.subs, l)
	if len(t.subs) == 0 {
		t.cancel()
		delete(h.tails, l.queue)
	}
}

// tail reads the queue's events after start and broadcasts them.
func (h *EventHub) tail(ctx context.Context, queue, after string, t *eventTail) {
	defer close(t.done)
	var failing bool
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	for ctx.Err() == nil {
		evs, err := h.store.Events(ctx, queue, after, 500, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				h.logger.Warn("queue events: read failed, retrying", "queue", queue, "error", err)
				failing = true
			}
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		failing = false
		if len(evs) == 0 {
			continue
		}
		after = evs[len(evs)-1].ID
		h.mu.Lock()
		for l := range t.subs {
			for _, ev := range evs {
				select {
				case l.c <- ev:
				default: // too slow: drop it; its client resumes by id
					l.once.Do(func() { close(l.c) })
					delete(t.subs, l)
				}
				if _, ok := t.subs[l]; !ok {
					break
				}
			}
		}
		if len(t.subs) == 0 {
			t.cancel()
			if h.tails[queue] == t {
				delete(h.tails, queue)
			}
		}
		h.mu.Unlock()
		if h.Gather > 0 && len(evs) < 500 {
			gather.Reset(h.Gather)
			select {
			case <-gather.C:
			case <-ctx.Done():
			}
		}
	}
}

// Close ends every listener and reader.
func (h *EventHub) Close() {
	h.mu.Lock()
	h.closed = true
	tails := h.tails
	h.tails = map[string]*eventTail{}
	for _, t := range tails {
		for l := range t.subs {
			l.once.Do(func() { close(l.c) })
		}
		t.cancel()
	}
	h.mu.Unlock()
	for _, t := range tails {
		<-t.done
	}
}

// Replay calls emit for the queue's events after `after` up to the newest
// kept, oldest first, and returns the ID of the last one emitted (after
// itself when none). It is how a stream resumes from Last-Event-ID.
func Replay(ctx context.Context, store Store, queue, after string, emit func(Event) error) (string, error) {
	for {
		evs, err := store.Events(ctx, queue, after, 500, 0)
		if err != nil {
			return after, err
		}
		for _, ev := range evs {
			if err := emit(ev); err != nil {
				return after, err
			}
			after = ev.ID
		}
		if len(evs) < 500 {
			return after, nil
		}
		if ctx.Err() != nil {
			return after, errors.Join(ctx.Err())
		}
	}
}
