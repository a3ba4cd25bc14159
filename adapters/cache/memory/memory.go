// Package memory is the in-process cache adapter (driver "memory"): an
// otter v2 cache, bounded by entry count, with a TTL per entry.
//
// It is the embedded profile's cache and the L1 of the tiered adapter. Its
// entries live in this process only: several API instances each have their
// own, and nothing keeps them coherent (use "tiered" for that).
package memory

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"go.uber.org/fx"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/config"
)

// Config is the section cache.memory.
type Config struct {
	// MaxEntries bounds the cache (default 100000); otter evicts by its
	// W-TinyLFU policy beyond it.
	MaxEntries int `yaml:"max_entries"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.MaxEntries == 0 {
		c.MaxEntries = 100_000
	}
}

// Validate reports invalid values.
func (c Config) Validate() error {
	if c.MaxEntries < 1 {
		return fmt.Errorf("max_entries: %d must be >= 1", c.MaxEntries)
	}
	return nil
}

// forever stands for "no expiry" (otter adds it to now, so it must not
// overflow int64 nanoseconds).
const forever = 100 * 365 * 24 * time.Hour

type entry struct {
	data []byte
	ttl  time.Duration
}

// Store is the otter-backed cache.Store. Safe for concurrent use.
type Store struct {
	c      *otter.Cache[string, entry]
	closed atomic.Bool
}

// New returns an empty Store.
func New(cfg Config) (*Store, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cache.memory: %w", err)
	}
	c, err := otter.New(&otter.Options[string, entry]{
		MaximumSize: cfg.MaxEntries,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, entry]) time.Duration {
			return e.Value.ttl
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("cache.memory: %w", err)
	}
	return &Store{c: c}, nil
}

// Get implements cache.Store.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	if s.closed.Load() {
		return nil, cache.ErrClosed
	}
	e, ok := s.c.GetIfPresent(key)
	if !ok {
		return nil, cache.ErrMiss
	}
	return e.data, nil
}

// Set implements cache.Store; value is copied.
func (s *Store) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	if ttl <= 0 {
		ttl = forever
	}
	s.c.Set(key, entry{data: append([]byte{}, value...), ttl: ttl})
	return nil
}

// SetShared is Set without the copy, for callers that hand over value (the
// tiered adapter's L1 fill). value must not be modified afterwards.
func (s *Store) SetShared(key string, value []byte, ttl time.Duration) {
	if ttl <= 0 {
		ttl = forever
	}
	s.c.Set(key, entry{data: value, ttl: ttl})
}

// Delete implements cache.Store.
func (s *Store) Delete(_ context.Context, keys ...string) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	for _, k := range keys {
		s.c.Invalidate(k)
	}
	return nil
}

// Clear removes every entry.
func (s *Store) Clear() { s.c.InvalidateAll() }

// Contains reports whether key holds a live entry, without counting as a
// read for the eviction policy.
func (s *Store) Contains(key string) bool {
	_, ok := s.c.GetEntryQuietly(key)
	return ok
}

// Len returns the approximate number of entries.
func (s *Store) Len() int { return s.c.EstimatedSize() }

// Ping implements cache.Store: an open memory store is always up.
func (s *Store) Ping(context.Context) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	return nil
}

// Close drops every entry and stops otter's goroutines.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return cache.ErrClosed
	}
	s.c.InvalidateAll()
	s.c.StopAllGoroutines()
	return nil
}

var _ cache.Store = (*Store)(nil)

// Module registers the "memory" driver and its config section cache.memory.
var Module = fx.Module("cache.memory",
	config.Provide[Config]("cache.memory"),
	cache.AsDriver(NewDriver),
)

// NewDriver returns the "memory" driver.
func NewDriver(cfg Config, log *slog.Logger) cache.Driver {
	return cache.Driver{Name: "memory", Open: func(context.Context) (cache.Store, error) {
		s, err := New(cfg)
		if err == nil {
			log.Info("memory cache ready", "max_entries", cfg.MaxEntries)
		}
		return s, err
	}}
}

// StableValues implements cache.StableValues: Get returns the slice the
// store keeps, which it never modifies.
func (s *Store) StableValues() bool { return true }
