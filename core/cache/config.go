package cache

import (
	"errors"
	"fmt"
	"time"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Config is the core cache section (config key "cache"). Adapters have
// their own sections below it (cache.memory, cache.tiered); the Redis
// adapters read the top-level redis section.
type Config struct {
	// Driver names the registered driver: memory, redis, tiered, or one a
	// third party registers with AsDriver.
	Driver string `yaml:"driver"`
	// DefaultTTL of cached values (default 1h).
	DefaultTTL time.Duration `yaml:"default_ttl"`
	// NegativeTTL of a cached not-found (default 30s; a negative value
	// turns negative caching off).
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// Jitter shortens each TTL by a random fraction up to this (default
	// 0.1), so entries stored together do not expire together.
	Jitter float64 `yaml:"jitter"`
	// Breaker guards the store (cache.breaker.failures, .open_for,
	// .probe_timeout).
	Breaker BreakerConfig `yaml:"breaker"`
	// Warm configures start-up warming (cache.warm.count, .concurrency,
	// .readiness_budget).
	Warm WarmConfig `yaml:"warm"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "memory"
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultTTL
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = 30 * time.Second
	}
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	c.Breaker.SetDefaults()
	c.Warm.SetDefaults()
}

// Validate reports invalid values, naming the key relative to the section.
// Whether Driver is registered is checked when the store is opened, since
// drivers are contributed by other modules.
func (c Config) Validate() error {
	switch {
	case c.Driver == "":
		return errors.New("driver: must be set")
	case c.DefaultTTL < 0:
		return fmt.Errorf("default_ttl: %s must be > 0", c.DefaultTTL)
	case c.Jitter < 0 || c.Jitter >= 1:
		return fmt.Errorf("jitter: %g must be in [0, 1)", c.Jitter)
	}
	if err := c.Breaker.Validate(); err != nil {
		return fmt.Errorf("breaker.%w", err)
	}
	if err := c.Warm.Validate(); err != nil {
		return fmt.Errorf("warm.%w", err)
	}
	return nil
}

// AsideOptions returns the options for an Aside configured by this section.
// The caller adds IsNotFound / NotFound (and a Codec if not JSON).
func (c Config) AsideOptions() AsideOptions {
	return AsideOptions{
		TTL:         c.DefaultTTL,
		NegativeTTL: c.NegativeTTL,
		Jitter:      c.Jitter,
		Breaker:     c.Breaker,
	}
}
