package cache

import (
	"context"
	"errors"
	"sync"
)

var errFlightAborted = errors.New("cache: shared load aborted")

// group makes concurrent calls for one key share one execution. Unlike
// x/sync/singleflight's DoChan, the first caller runs fn itself (no
// goroutine per call: that spawn and its stack growth were most of the cost
// of a bypassed read), while later callers wait for it or for their own
// context.
type group[T any] struct {
	mu sync.Mutex
	m  map[string]*call[T]
}

type call[T any] struct {
	done chan struct{}
	r    result[T]
}

func (g *group[T]) do(ctx context.Context, key string, fn func() result[T]) result[T] {
	g.mu.Lock()
	if c, ok := g.m[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.r
		case <-ctx.Done():
			return result[T]{status: StatusMiss, err: ctx.Err()}
		}
	}
	if g.m == nil {
		g.m = make(map[string]*call[T])
	}
	c := &call[T]{done: make(chan struct{}), r: result[T]{status: StatusMiss, err: errFlightAborted}}
	g.m[key] = c
	g.mu.Unlock()
	defer func() {
		// Also on a panic in fn: waiters get errFlightAborted, not a hang.
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.r = fn()
	return c.r
}
