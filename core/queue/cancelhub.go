package queue

import (
	"context"
	"sync"
)

// CancelHub hands the cancellations of active jobs a driver learns of in
// one place (an admin's call, a notification) to the channels its
// CancelNotifier.Cancellations returned. The zero value is ready; safe for
// concurrent use.
type CancelHub struct {
	mu   sync.Mutex
	subs map[string]map[chan string]struct{}
}

// Subscribe returns a channel of the IDs of queue's jobs cancelled from
// now on, closed when ctx or done ends.
func (h *CancelHub) Subscribe(ctx context.Context, done <-chan struct{}, queue string) <-chan string {
	ch := make(chan string, 64)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[string]map[chan string]struct{}{}
	}
	if h.subs[queue] == nil {
		h.subs[queue] = map[chan string]struct{}{}
	}
	h.subs[queue][ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		h.mu.Lock()
		delete(h.subs[queue], ch)
		close(ch)
		h.mu.Unlock()
	}()
	return ch
}

// Publish sends id to queue's subscribers. One whose buffer is full
// misses it: Consumer.Heartbeat reports it.
func (h *CancelHub) Publish(queue, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[queue] {
		select {
		case ch <- id:
		default:
		}
	}
}
