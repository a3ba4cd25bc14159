package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Invalidate deletes the keys from the store, for a caller that has just
// changed the underlying data. It never fails the caller's write because
// the cache is down:
//
//   - A load of one of these keys already in flight in this process does
//     not store its (possibly stale) result.
//   - When the store cannot be reached (error or breaker open), the failure
//     is logged and counted (errors{op="delete"}) and the keys are
//     remembered as pending. While a key is pending, Get on this Aside
//     retries the delete before trusting the store; and as soon as the
//     store answers again (breaker closes, or any successful read) all
//     pending deletes are retried in the background. So an entry that
//     survives a Redis restart (RDB/AOF) is not served stale here, and is
//     removed for the other instances within moments of Redis returning.
//   - Pending keys are kept in memory, at most MaxPendingInvalidations: if
//     this process stops first, or the set is full, the entry stays stale
//     until its TTL (default_ttl bounds the damage). Invalidate then
//     returns an error wrapping ErrInvalidationDropped, for the caller to
//     log; it should still not fail the write.
//
// Invalidate returns nil in every other case, including a store failure
// whose keys were queued.
func (a *Aside[T]) Invalidate(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		a.stripe(k).Add(1)
	}
	err := a.store.Delete(ctx, keys...)
	if err == nil {
		if a.pending.len() > 0 {
			a.pending.remove(keys...)
			a.m.pending.Set(float64(a.pending.len()))
		}
		return nil
	}
	a.m.errors("delete").Inc()
	dropped := a.pending.add(keys...)
	a.m.pending.Set(float64(a.pending.len()))
	if dropped > 0 {
		a.m.dropped.Add(float64(dropped))
		a.log.ErrorContext(ctx, "cache invalidation dropped, entries stay stale until their TTL",
			"keys", keys, "dropped", dropped, "err", err)
		return fmt.Errorf("%w: %d of %d keys (%w)", ErrInvalidationDropped, dropped, len(keys), err)
	}
	a.log.ErrorContext(ctx, "cache invalidation failed, will retry when the cache is back", "keys", keys, "err", err)
	return nil
}

// breakerChanged is the breaker's state hook.
func (a *Aside[T]) breakerChanged(from, to BreakerState) {
	a.m.breaker.Set(float64(to))
	switch to {
	case BreakerOpen:
		if from == BreakerClosed {
			a.log.Error("cache breaker opened: serving from the loader until the cache answers again")
		}
	case BreakerClosed:
		a.log.Info("cache breaker closed: caching resumed")
		if a.pending.len() > 0 {
			a.flushPending()
		}
	}
}

// flushPending retries the pending deletes in the background; at most one
// flush runs at a time.
func (a *Aside[T]) flushPending() {
	if !a.pending.flushing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer a.pending.flushing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys := a.pending.snapshot(500)
		for len(keys) > 0 {
			if err := a.store.Delete(ctx, keys...); err != nil {
				if !errors.Is(err, ErrBreakerOpen) {
					a.log.Error("cache pending invalidations still failing", "keys", len(keys), "err", err)
				}
				return
			}
			a.pending.remove(keys...)
			a.m.pending.Set(float64(a.pending.len()))
			a.log.Info("cache pending invalidations applied", "keys", len(keys))
			keys = a.pending.snapshot(500)
		}
	}()
}

// pendingSet is a bounded set of keys whose delete did not reach the store.
// len is lock-free so the read path pays one atomic load when it is empty.
type pendingSet struct {
	mu       sync.Mutex
	keys     map[string]struct{}
	max      int
	n        atomic.Int64
	flushing atomic.Bool
}

func newPendingSet(max int) *pendingSet {
	return &pendingSet{keys: make(map[string]struct{}), max: max}
}

func (p *pendingSet) len() int { return int(p.n.Load()) }

func (p *pendingSet) has(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.keys[key]
	return ok
}

// add returns how many keys did not fit.
func (p *pendingSet) add(keys ...string) (dropped int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		if _, ok := p.keys[k]; ok {
			continue
		}
		if len(p.keys) >= p.max {
			dropped++
			continue
		}
		p.keys[k] = struct{}{}
	}
	p.n.Store(int64(len(p.keys)))
	return dropped
}

func (p *pendingSet) remove(keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		delete(p.keys, k)
	}
	p.n.Store(int64(len(p.keys)))
}

func (p *pendingSet) snapshot(limit int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, min(limit, len(p.keys)))
	for k := range p.keys {
		if len(out) == limit {
			break
		}
		out = append(out, k)
	}
	return out
}
