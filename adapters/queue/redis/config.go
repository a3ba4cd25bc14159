package redis

import (
	"fmt"
	"strings"
	"time"
)

// Config is the section `queue.redis`: key layout and tuning. The
// connection itself is the top-level `redis` section (redisconn).
type Config struct {
	// Prefix starts every key. A queue's keys are Prefix+"{name}:"+suffix,
	// so they share the hash tag {name} and one Redis Cluster slot.
	Prefix string `yaml:"prefix"`
	// MinIdleTime is the lease of a delivery: how long it may go without a
	// heartbeat before it is taken back as stalled (its worker is presumed
	// dead). It must be at least three queue.heartbeat intervals.
	MinIdleTime time.Duration `yaml:"min_idle_time"`
	// ClaimInterval is how often each worker process looks for stalled
	// deliveries.
	ClaimInterval time.Duration `yaml:"claim_interval"`
	// PromoteInterval is the least time between two promote calls of a
	// queue by one worker process: how late a delayed job or retry can be
	// moved to waiting when others fall due just before it. A process
	// sleeps until the earliest due time it knows (Backend.Run); it does
	// not poll.
	PromoteInterval time.Duration `yaml:"promote_interval"`
	// DedupWindow is how long a WithJobID id is remembered after its job
	// record is gone.
	DedupWindow time.Duration `yaml:"dedup_window"`
}

// SetDefaults fills the defaults.
func (c *Config) SetDefaults() {
	if c.Prefix == "" {
		c.Prefix = "tipbox:queue:"
	}
	if c.MinIdleTime == 0 {
		c.MinIdleTime = 10 * time.Second
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = time.Second
	}
	if c.PromoteInterval == 0 {
		c.PromoteInterval = 20 * time.Millisecond
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = 24 * time.Hour
	}
}

// Validate checks the section; errors name the key relative to queue.redis.
func (c Config) Validate() error {
	switch {
	case strings.ContainsAny(c.Prefix, "{}"):
		return fmt.Errorf("prefix: %q must not contain { or } (the queue name is the hash tag)", c.Prefix)
	case c.MinIdleTime < 100*time.Millisecond:
		return fmt.Errorf("min_idle_time: %s is under 100ms", c.MinIdleTime)
	case c.ClaimInterval <= 0 || c.PromoteInterval <= 0:
		return fmt.Errorf("claim_interval, promote_interval: must be positive")
	case c.DedupWindow <= 0:
		return fmt.Errorf("dedup_window: %s must be positive", c.DedupWindow)
	}
	return nil
}
