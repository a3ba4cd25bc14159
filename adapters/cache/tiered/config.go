package tiered

import (
	"fmt"
	"time"
)

// Config is the section cache.tiered.
type Config struct {
	// L1MaxEntries bounds each instance's L1 (default 10000).
	L1MaxEntries int `yaml:"l1_max_entries"`
	// L1TTL is the longest an entry stays in L1 (default 1m). It bounds
	// how stale an L1 can get if an invalidation message were lost.
	L1TTL time.Duration `yaml:"l1_ttl"`
	// Channel is the pub/sub channel for invalidations (default
	// tipbox:cache:invalidate); it is put after Prefix.
	Channel string `yaml:"channel"`
	// Prefix is put before every Redis key and the channel (default:
	// cache.redis.prefix, so a profile written for the redis driver keeps
	// its keys; none when neither is set).
	Prefix string `yaml:"prefix"`
	// Timeout bounds each Redis command (default 500ms), as cache.redis.timeout.
	Timeout time.Duration `yaml:"timeout"`
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.L1MaxEntries == 0 {
		c.L1MaxEntries = 10_000
	}
	if c.L1TTL == 0 {
		c.L1TTL = time.Minute
	}
	if c.Channel == "" {
		c.Channel = "tipbox:cache:invalidate"
	}
	if c.Timeout == 0 {
		c.Timeout = 500 * time.Millisecond
	}
}

// Validate reports invalid values.
func (c Config) Validate() error {
	switch {
	case c.L1MaxEntries < 1:
		return fmt.Errorf("l1_max_entries: %d must be >= 1", c.L1MaxEntries)
	case c.L1TTL < 0:
		return fmt.Errorf("l1_ttl: %s must be > 0", c.L1TTL)
	case c.Timeout < 0:
		return fmt.Errorf("timeout: %s must be > 0", c.Timeout)
	}
	return nil
}
