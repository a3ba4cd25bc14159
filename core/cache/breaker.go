package cache

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// BreakerConfig configures the circuit breaker in front of a Store.
type BreakerConfig struct {
	// Failures is the number of consecutive store failures that opens the
	// circuit (default 5). -1 disables the breaker.
	Failures int `yaml:"failures"`
	// OpenFor is how long the circuit stays open before it is probed
	// (default 5s).
	OpenFor time.Duration `yaml:"open_for"`
	// ProbeTimeout bounds the background Ping that probes an open circuit
	// (default 2s).
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
}

// SetDefaults fills unset fields: 5 failures, open for 5s.
func (c *BreakerConfig) SetDefaults() {
	if c.Failures == 0 {
		c.Failures = 5
	}
	if c.OpenFor == 0 {
		c.OpenFor = 5 * time.Second
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = 2 * time.Second
	}
}

// Validate reports invalid values.
func (c BreakerConfig) Validate() error {
	if c.Failures < -1 {
		return errors.New("failures: must be >= 1, or -1 to disable the breaker")
	}
	if c.OpenFor < 0 {
		return errors.New("open_for: must be >= 0")
	}
	if c.ProbeTimeout < 0 {
		return errors.New("probe_timeout: must be >= 0")
	}
	return nil
}

// BreakerState is the state of a circuit breaker.
type BreakerState int32

// Breaker states.
const (
	BreakerClosed BreakerState = iota
	BreakerOpen
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// BreakerStore is a Store guarded by a circuit breaker, so that a dead or
// hung cache costs one fast error per call instead of a timeout per call.
//
// After Failures consecutive failures the circuit opens: every call returns
// ErrBreakerOpen at once, without touching the store. After OpenFor, the
// first call (still answered ErrBreakerOpen at once) starts one probe in
// the background: a Ping bounded by ProbeTimeout. Its success closes the
// circuit; its failure opens it for another OpenFor. No caller ever waits
// on a store that is believed down (go-redis alone spends ~400 ms on five
// dial attempts to a dead server). ErrMiss is a success; an error that
// happened because the caller's own context ended is not counted.
//
// The closed-state path is lock-free (one atomic load per call, plus one
// more on success): unlike sony/gobreaker, which takes a mutex on every
// call, it adds nothing measurable to a cache hit. Ping bypasses the breaker
// so that readiness reports the store's real state. Safe for concurrent use.
type BreakerStore struct {
	store     Store
	threshold int32
	openFor   time.Duration
	probeFor  time.Duration
	onChange  func(from, to BreakerState)

	state     atomic.Int32
	failures  atomic.Int32
	openUntil atomic.Int64 // unix nanoseconds
}

// NewBreakerStore wraps store. onChange, if not nil, is called (synchronously,
// from the goroutine that caused it) on every state change; it must be quick.
func NewBreakerStore(store Store, cfg BreakerConfig, onChange func(from, to BreakerState)) *BreakerStore {
	cfg.SetDefaults()
	return &BreakerStore{
		store:     store,
		threshold: int32(cfg.Failures),
		openFor:   cfg.OpenFor,
		probeFor:  cfg.ProbeTimeout,
		onChange:  onChange,
	}
}

// State returns the current state. An open circuit whose OpenFor has passed
// still reports open until a call starts the probe.
func (b *BreakerStore) State() BreakerState { return BreakerState(b.state.Load()) }

// Unwrap returns the guarded store.
func (b *BreakerStore) Unwrap() Store { return b.store }

// allow reports whether a call may go to the store. Past OpenFor, the
// first caller to see the open circuit starts the background probe.
func (b *BreakerStore) allow() bool {
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		return true
	case BreakerOpen:
		if time.Now().UnixNano() >= b.openUntil.Load() &&
			b.state.CompareAndSwap(int32(BreakerOpen), int32(BreakerHalfOpen)) {
			b.changed(BreakerOpen, BreakerHalfOpen)
			go b.probe()
		}
	}
	return false
}

func (b *BreakerStore) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), b.probeFor)
	defer cancel()
	if err := b.store.Ping(ctx); err != nil {
		b.openUntil.Store(time.Now().Add(b.openFor).UnixNano())
		b.transition(BreakerHalfOpen, BreakerOpen)
		return
	}
	b.failures.Store(0)
	b.transition(BreakerHalfOpen, BreakerClosed)
}

// done records the outcome of a call made in the closed state.
func (b *BreakerStore) done(ctx context.Context, err error) {
	if err == nil || errors.Is(err, ErrMiss) {
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		return
	}
	if ctx.Err() != nil {
		return // the caller gave up; that says nothing about the store
	}
	if b.failures.Add(1) >= b.threshold && b.state.Load() == int32(BreakerClosed) {
		b.openUntil.Store(time.Now().Add(b.openFor).UnixNano())
		b.transition(BreakerClosed, BreakerOpen)
	}
}

func (b *BreakerStore) transition(from, to BreakerState) {
	if b.state.CompareAndSwap(int32(from), int32(to)) {
		b.changed(from, to)
	}
}

func (b *BreakerStore) changed(from, to BreakerState) {
	if b.onChange != nil {
		b.onChange(from, to)
	}
}

// Get implements Store.
func (b *BreakerStore) Get(ctx context.Context, key string) ([]byte, error) {
	if !b.allow() {
		return nil, ErrBreakerOpen
	}
	v, err := b.store.Get(ctx, key)
	b.done(ctx, err)
	return v, err
}

// Set implements Store.
func (b *BreakerStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if !b.allow() {
		return ErrBreakerOpen
	}
	err := b.store.Set(ctx, key, value, ttl)
	b.done(ctx, err)
	return err
}

// Delete implements Store.
func (b *BreakerStore) Delete(ctx context.Context, keys ...string) error {
	if !b.allow() {
		return ErrBreakerOpen
	}
	err := b.store.Delete(ctx, keys...)
	b.done(ctx, err)
	return err
}

// Ping pings the guarded store directly, whatever the circuit's state.
func (b *BreakerStore) Ping(ctx context.Context) error { return b.store.Ping(ctx) }

// Close closes the guarded store.
func (b *BreakerStore) Close() error { return b.store.Close() }
