// Package cache is the cache port of the Tipbox kernel: a small byte-level
// Store interface that adapters implement, a Codec, and the generic
// cache-aside helper (Aside) that modules use.
//
// Modules never see an adapter type: they receive a Store (through fx, picked
// by the cache.driver config key) and wrap it in an Aside[T] for their value
// type. Adapters register themselves as named Drivers (AsDriver), so a third
// party adds one without editing this package.
package cache

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the cache port.
var (
	// ErrMiss is returned by Store.Get when the key holds no live entry.
	// It is the only error that means "not cached": any other error means
	// the store could not answer.
	ErrMiss = errors.New("cache: miss")
	// ErrClosed is returned by a Store used after Close.
	ErrClosed = errors.New("cache: store closed")
	// ErrBreakerOpen is returned by a breaker-guarded store while its circuit
	// is open: the call was not attempted.
	ErrBreakerOpen = errors.New("cache: circuit breaker open")
	// ErrUnknownDriver is wrapped by the fx module when cache.driver names
	// no registered driver.
	ErrUnknownDriver = errors.New("cache: unknown driver")
	// ErrCorrupt is wrapped when a stored entry cannot be decoded.
	ErrCorrupt = errors.New("cache: corrupt entry")
)

// Store is the byte-level cache an adapter provides.
//
// Implementations must be safe for concurrent use. Values passed to Set are
// copied or serialised before Set returns, so the caller may reuse the
// slice; slices returned by Get must not be modified by the caller.
// A Store never returns a partial value: Get yields the whole value written
// by one Set, or ErrMiss, or another error.
type Store interface {
	// Get returns the value stored under key, or ErrMiss when there is none
	// (never stored, deleted or expired). Other errors mean the store could
	// not answer (connection refused, timeout, closed).
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl. A ttl <= 0 stores it without
	// expiry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the keys; keys that do not exist are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Ping reports whether the store can serve requests right now. It is
	// what readiness reports as the cache state.
	Ping(ctx context.Context) error
	// Close releases the store's resources (its own Redis client, goroutines).
	// Calls after Close return ErrClosed.
	Close() error
}
