package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Status says how a value was served. The HTTP layer puts it in X-Cache.
type Status string

// Statuses returned by Aside.Get.
const (
	// StatusHit: served from the cache (a cached not-found included).
	StatusHit Status = "HIT"
	// StatusMiss: not cached; loaded and (normally) stored.
	StatusMiss Status = "MISS"
	// StatusBypass: the cache could not be used (error, breaker open); the
	// value came from the loader and was not stored.
	StatusBypass Status = "BYPASS"
)

// ErrNotFound is what Aside.Get returns on a cached not-found when
// AsideOptions.NotFound is not set.
var ErrNotFound = errors.New("cache: not found (cached)")

// ErrInvalidationDropped is wrapped by Aside.Invalidate when the store
// failed and the set of pending invalidations is full: the stale entry will
// live until its TTL.
var ErrInvalidationDropped = errors.New("cache: invalidation dropped")

// DefaultTTL is used when AsideOptions.TTL is not set.
const DefaultTTL = time.Hour

// AsideOptions configures an Aside. The zero value works: 1h TTL, no
// jitter, no negative caching, JSON, breaker with 5 failures / 5s.
type AsideOptions struct {
	// TTL of a cached value (default DefaultTTL).
	TTL time.Duration
	// NegativeTTL of a cached not-found; <= 0 turns negative caching off.
	NegativeTTL time.Duration
	// Jitter in [0, 1): each stored TTL is shortened by a random fraction
	// up to Jitter, so entries written together (a warm-up) do not expire
	// together.
	Jitter float64
	// IsNotFound tells a loader's not-found error from a failure. Default:
	// errors.Is(err, NotFound) when NotFound is set, else never.
	IsNotFound func(error) bool
	// NotFound is returned by Get for a cached not-found (default ErrNotFound).
	// It should satisfy IsNotFound, so callers handle both cases alike.
	NotFound error
	// Codec encodes values (default JSON).
	Codec Codec
	// Breaker guards the store (defaults: see BreakerConfig; Failures -1
	// disables it).
	Breaker BreakerConfig
	// LoadTimeout bounds one load (0: only the loader's own limits). A load
	// is shared by every caller waiting on the key: its context is cancelled
	// only when all of them have given up.
	LoadTimeout time.Duration
	// MaxPendingInvalidations bounds the keys remembered when an Invalidate
	// could not reach the store (default 10000).
	MaxPendingInvalidations int
	// MemoEntries bounds the memo of decoded values (default 10000, -1
	// turns it off): a hit on bytes already decoded reuses the decoded
	// value. Over an in-process store (StableValues) the memo is keyed by
	// the stored slice; over any other store (Redis) by the cache key, with
	// a copy of the bytes it decoded, which a hit compares with the bytes
	// the store returned.
	MemoEntries int
}

// Aside is the cache-aside read path for values of type T under one cache
// name (used as the metrics label), safe for concurrent use:
//
//   - Get reads the store; on a miss it loads through the loader once per
//     key however many callers miss together (singleflight), stores the
//     value with a jittered TTL and returns it.
//   - A store that errors is bypassed: the value comes from the loader and
//     Get never returns a store error. A circuit breaker in front of the
//     store makes a dead cache cost nothing per call; it half-opens by
//     itself and caching resumes without a restart.
//   - An entry that does not decode is a miss: logged, counted and
//     overwritten by the reload.
//   - A loader's not-found (IsNotFound) is cached for NegativeTTL.
//
// Values returned by Get may be shared with other callers (a load shared by
// concurrent misses, a memoised decode of the same bytes): treat them
// as read-only, and copy before modifying.
type Aside[T any] struct {
	name    string
	store   Store
	breaker *BreakerStore
	opts    AsideOptions
	log     *slog.Logger
	m       asideMetrics

	misses   group[T] // loads that store their result
	bypasses group[T] // loads while the store is unusable
	seed     maphash.Seed
	// gens are striped per-key generations bumped by Invalidate: a load
	// that started before an invalidation of its key does not store its
	// (possibly stale) result.
	gens [64]atomic.Uint64
	// loaded are striped counters bumped when a miss flight ends: a caller
	// whose miss predates the end of a flight for its key (seen as a change
	// of its stripe) looks at the store once more instead of loading again.
	loaded  [64]atomic.Uint64
	pending *pendingSet
	// memo maps the first byte of a stored slice (StableValues stores only)
	// to its decoded value; the length is checked too.
	memo *otter.Cache[*byte, memoEntry[T]]
	// byKey maps a cache key to the bytes last decoded for it and their
	// decoded value (stores without StableValues).
	byKey *otter.Cache[string, keyMemoEntry[T]]
}

// NewAside returns an Aside for the cache called name over store. log and m
// may be nil (no logs, unregistered metrics).
func NewAside[T any](name string, store Store, opts AsideOptions, log *slog.Logger, m *Metrics) *Aside[T] {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Jitter < 0 || opts.Jitter >= 1 {
		opts.Jitter = 0
	}
	if opts.Codec == nil {
		opts.Codec = JSON{}
	}
	if opts.NotFound == nil {
		opts.NotFound = ErrNotFound
	}
	if opts.IsNotFound == nil {
		nf := opts.NotFound
		opts.IsNotFound = func(err error) bool { return nf != ErrNotFound && errors.Is(err, nf) }
	}
	if opts.MaxPendingInvalidations <= 0 {
		opts.MaxPendingInvalidations = 10000
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = newMetrics()
	}
	a := &Aside[T]{
		name:    name,
		opts:    opts,
		log:     log.With("cache", name),
		m:       m.forCache(name),
		seed:    maphash.MakeSeed(),
		pending: newPendingSet(opts.MaxPendingInvalidations),
	}
	if opts.MemoEntries != -1 {
		if opts.MemoEntries <= 0 {
			opts.MemoEntries = 10_000
		}
		if sv, ok := store.(StableValues); ok && sv.StableValues() {
			a.memo = otter.Must(&otter.Options[*byte, memoEntry[T]]{MaximumSize: opts.MemoEntries})
		} else {
			a.byKey = otter.Must(&otter.Options[string, keyMemoEntry[T]]{MaximumSize: opts.MemoEntries})
		}
	}
	a.store = store
	if opts.Breaker.Failures != -1 {
		a.breaker = NewBreakerStore(store, opts.Breaker, a.breakerChanged)
		a.store = a.breaker
	}
	a.m.breaker.Set(0)
	return a
}

// Name returns the cache name.
func (a *Aside[T]) Name() string { return a.name }

// BreakerState returns the state of this Aside's breaker (closed when the
// breaker is disabled).
func (a *Aside[T]) BreakerState() BreakerState {
	if a.breaker == nil {
		return BreakerClosed
	}
	return a.breaker.State()
}

// PendingInvalidations returns how many keys wait for a delete that could
// not reach the store.
func (a *Aside[T]) PendingInvalidations() int { return a.pending.len() }

type result[T any] struct {
	v      T
	status Status
	err    error
}

// Get returns the value for key, from the store or else from load. The
// error is the loader's (a not-found included: NotFound on a cached one) or
// the context's; a store failure is never returned: it makes the status
// BYPASS.
func (a *Aside[T]) Get(ctx context.Context, key string, load func(ctx context.Context) (T, error)) (T, Status, error) {
	if a.pending.len() > 0 && a.pending.has(key) {
		// An invalidation of this key did not reach the store: the entry
		// there may be stale. Retry the delete before trusting it.
		if err := a.store.Delete(ctx, key); err != nil {
			return a.bypass(ctx, key, load, err)
		}
		a.pending.remove(key)
		a.m.pending.Set(float64(a.pending.len()))
	}
	stripe := a.stripeIndex(key)
	loaded := a.loaded[stripe].Load()
	data, err := a.store.Get(ctx, key)
	recheck := true
	switch {
	case err == nil:
		if r, ok := a.decode(ctx, key, data); ok {
			a.m.hits.Inc()
			if a.log.Enabled(ctx, slog.LevelDebug) {
				a.log.DebugContext(ctx, "cache hit", "key", key)
			}
			if a.pending.len() > 0 {
				a.flushPending()
			}
			return r.v, r.status, r.err
		}
		recheck = false // corrupt: reload and overwrite
	case errors.Is(err, ErrMiss):
	case ctx.Err() != nil:
		var zero T
		return zero, StatusMiss, ctx.Err()
	default:
		return a.bypass(ctx, key, load, err)
	}
	a.m.misses.Inc()
	if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.DebugContext(ctx, "cache miss", "key", key)
	}
	r := a.misses.do(ctx, key, func(ctx context.Context) result[T] {
		return a.loadAndStore(ctx, key, load, recheck && a.loaded[stripe].Load() != loaded)
	})
	return r.v, r.status, r.err
}

// bypass serves key from the loader without the store (still one load per
// key for concurrent callers, so a dead cache does not stampede the
// database).
func (a *Aside[T]) bypass(ctx context.Context, key string, load func(context.Context) (T, error), cause error) (T, Status, error) {
	a.m.bypasses.Inc()
	if !errors.Is(cause, ErrBreakerOpen) {
		a.m.errors("get").Inc()
		a.log.ErrorContext(ctx, "cache unavailable, bypassing", "key", key, "err", cause)
	} else if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.DebugContext(ctx, "cache bypass (breaker open)", "key", key)
	}
	r := a.bypasses.do(ctx, key, func(ctx context.Context) result[T] {
		v, err := a.load(ctx, load)
		return result[T]{v: v, status: StatusBypass, err: err}
	})
	return r.v, r.status, r.err
}

// loadAndStore is the body of a miss flight. recheck is set when a flight
// for the key (or its stripe) ended since this caller's miss: that caller
// would load again, and a second look at the store makes it one load per
// key; otherwise the extra round trip is skipped.
func (a *Aside[T]) loadAndStore(ctx context.Context, key string, load func(context.Context) (T, error), recheck bool) result[T] {
	gen := a.gen(key)
	defer a.loaded[a.stripeIndex(key)].Add(1)
	if recheck {
		if data, err := a.store.Get(ctx, key); err == nil {
			if r, ok := a.decode(ctx, key, data); ok {
				return r
			}
		}
	}
	v, err := a.load(ctx, load)
	if err != nil {
		if a.opts.NegativeTTL > 0 && a.opts.IsNotFound(err) && a.gen(key) == gen {
			a.set(ctx, key, negativeEntry, a.opts.NegativeTTL)
		}
		return result[T]{v: v, status: StatusMiss, err: err}
	}
	data, merr := a.opts.Codec.Marshal(v)
	if merr != nil {
		a.m.errors("encode").Inc()
		a.log.ErrorContext(ctx, "cache encode failed, value not cached", "key", key, "err", merr)
	} else if a.gen(key) == gen {
		a.set(ctx, key, data, a.opts.TTL)
	}
	return result[T]{v: v, status: StatusMiss}
}

func (a *Aside[T]) set(ctx context.Context, key string, data []byte, ttl time.Duration) {
	if err := a.store.Set(ctx, key, data, a.jitter(ttl)); err != nil {
		if !errors.Is(err, ErrBreakerOpen) {
			a.m.errors("set").Inc()
			a.log.ErrorContext(ctx, "cache set failed", "key", key, "err", err)
		}
	}
}

// load calls the loader with the load timeout, timing it and turning a
// panic into an error (a panic inside a singleflight flight would crash the
// process from another goroutine).
func (a *Aside[T]) load(ctx context.Context, load func(context.Context) (T, error)) (v T, err error) {
	if a.opts.LoadTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.opts.LoadTimeout)
		defer cancel()
	}
	start := time.Now()
	defer func() {
		a.m.load.Observe(time.Since(start).Seconds())
		if p := recover(); p != nil {
			err = fmt.Errorf("cache %s: loader panicked: %v", a.name, p)
		}
	}()
	return load(ctx)
}

func (a *Aside[T]) jitter(ttl time.Duration) time.Duration {
	if a.opts.Jitter == 0 {
		return ttl
	}
	return ttl - time.Duration(rand.Float64()*a.opts.Jitter*float64(ttl))
}

func (a *Aside[T]) stripeIndex(key string) int {
	return int(maphash.String(a.seed, key) % uint64(len(a.gens)))
}

func (a *Aside[T]) stripe(key string) *atomic.Uint64 { return &a.gens[a.stripeIndex(key)] }

func (a *Aside[T]) gen(key string) uint64 { return a.stripe(key).Load() }
