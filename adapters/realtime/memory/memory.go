// Package memory is the in-process realtime bus (driver "memory"): an
// event published in this process reaches the hubs subscribed in this
// process, synchronously, with no copy and no encoding. It is the embedded
// profile's bus; it cannot reach another process, so a cmd/worker using it
// pushes to nobody (configs for several processes use the redis driver).
package memory

import (
	"context"
	"sync"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/realtime"
)

// Bus is an in-process fan-out. Publish calls every subscriber's handler on
// the caller's goroutine (handlers must not block: the hub's Deliver only
// queues). Safe for concurrent use.
type Bus struct {
	mu     sync.RWMutex
	subs   map[int]func(realtime.Event)
	next   int
	closed bool
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[int]func(realtime.Event){}} }

// Publish implements realtime.Bus. With no subscriber it is a no-op.
func (b *Bus) Publish(_ context.Context, ev realtime.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return realtime.ErrClosed
	}
	for _, h := range b.subs {
		h(ev)
	}
	return nil
}

// Subscribe implements realtime.Bus. The returned close waits for handler
// calls in flight (it takes the write lock that Publish holds for reading).
func (b *Bus) Subscribe(_ context.Context, handle func(realtime.Event)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, realtime.ErrClosed
	}
	id := b.next
	b.next++
	b.subs[id] = handle
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
		})
	}, nil
}

// Close implements realtime.Bus: later publishes fail with ErrClosed.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.subs = map[int]func(realtime.Event){}
	return nil
}

var _ realtime.Bus = (*Bus)(nil)

// NewDriver returns the "memory" driver.
func NewDriver() realtime.Driver {
	return realtime.Driver{Name: "memory", Open: func(context.Context) (realtime.Bus, error) { return New(), nil }}
}

// Module registers the "memory" driver.
var Module = fx.Module("realtime.memory", realtime.AsDriver(NewDriver))
