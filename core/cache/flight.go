package cache

import (
	"context"
	"errors"
	"sync"
)

var errFlightAborted = errors.New("cache: shared load aborted")

// group makes concurrent calls for one key share one execution.
//
// Unlike x/sync/singleflight's DoChan, the first caller runs fn itself (no
// goroutine per call: that spawn and its stack growth were most of the cost
// of a bypassed read). Later callers wait for it or leave when their own
// context ends. fn gets a context that is cancelled only once every caller
// interested in the result has gone, so one impatient caller does not fail
// the others, and a load nobody waits for any more is cancelled.
type group[T any] struct {
	mu sync.Mutex
	m  map[string]*call[T]
}

type call[T any] struct {
	done   chan struct{}
	r      result[T]
	refs   int // callers still waiting, the leader included; guarded by group.mu
	cancel context.CancelFunc
}

func (g *group[T]) do(ctx context.Context, key string, fn func(ctx context.Context) result[T]) result[T] {
	g.mu.Lock()
	if c, ok := g.m[key]; ok {
		c.refs++
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.r
		case <-ctx.Done():
			g.leave(c)
			return result[T]{status: StatusMiss, err: ctx.Err()}
		}
	}
	if g.m == nil {
		g.m = make(map[string]*call[T])
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &call[T]{done: make(chan struct{}), refs: 1, cancel: cancel,
		r: result[T]{status: StatusMiss, err: errFlightAborted}}
	g.m[key] = c
	g.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { g.leave(c) })
	defer func() {
		// Also on a panic in fn: waiters get errFlightAborted, not a hang.
		stop()
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		cancel()
		close(c.done)
	}()
	c.r = fn(lctx)
	return c.r
}

// leave drops one waiter; the last one out cancels the load.
func (g *group[T]) leave(c *call[T]) {
	g.mu.Lock()
	c.refs--
	last := c.refs == 0
	g.mu.Unlock()
	if last {
		c.cancel()
	}
}
