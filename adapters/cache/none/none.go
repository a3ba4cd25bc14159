// Package none is the cache driver that caches nothing: every Get misses
// and writes are dropped. `cache.driver: none` turns caching off without
// touching the code that uses the cache (profiles answer X-Cache: MISS);
// benchmarks use it as the no-cache baseline.
package none

import (
	"context"
	"time"

	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/cache"
)

// Store is a cache.Store that stores nothing. Safe for concurrent use.
type Store struct{}

// Get always misses.
func (Store) Get(context.Context, string) ([]byte, error) { return nil, cache.ErrMiss }

// Set drops the value.
func (Store) Set(context.Context, string, []byte, time.Duration) error { return nil }

// Delete has nothing to delete.
func (Store) Delete(context.Context, ...string) error { return nil }

// Ping always succeeds: a cache that is off is not down.
func (Store) Ping(context.Context) error { return nil }

// Close does nothing.
func (Store) Close() error { return nil }

// NewDriver returns the "none" driver.
func NewDriver() cache.Driver {
	return cache.Driver{Name: "none", Open: func(context.Context) (cache.Store, error) { return Store{}, nil }}
}

// Module registers the "none" driver.
var Module = fx.Module("cache.none", cache.AsDriver(NewDriver))
