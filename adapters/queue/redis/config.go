package redis

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the section `queue.redis`: key layout and transport tuning.
// The connection itself is the top-level `redis` section (redisconn).
type Config struct {
	// Prefix starts every key. A queue's keys are Prefix+"{name}:"+suffix,
	// so they share the hash tag {name} and one Redis Cluster slot.
	Prefix string `yaml:"prefix"`
	// Group is the consumer group every worker process joins.
	Group string `yaml:"group"`
	// Consumer is this process's stable name in the group (default: the
	// host name). A restarted worker with the same name resumes its
	// pending jobs at once; two live workers must not share a name.
	Consumer string `yaml:"consumer"`
	// BatchSize is the XREADGROUP COUNT: the read-ahead per worker and
	// priority. Bigger drains faster; read-ahead entries count as active.
	BatchSize int `yaml:"batch_size"`
	// MinIdleTime is how long a dead worker's jobs wait before another
	// worker takes them over (XAUTOCLAIM); live workers renew theirs.
	MinIdleTime time.Duration `yaml:"min_idle_time"`
	// ClaimInterval is how often a worker looks for such jobs.
	ClaimInterval time.Duration `yaml:"claim_interval"`
	// AckFlushInterval is how long acks may wait to be coalesced.
	AckFlushInterval time.Duration `yaml:"ack_flush_interval"`
	// PromoteInterval is how often due delayed jobs and retries are moved
	// to their stream: the bound on how late a delayed job starts.
	PromoteInterval time.Duration `yaml:"promote_interval"`
	// TrimInterval is how often acknowledged stream entries are deleted.
	TrimInterval time.Duration `yaml:"trim_interval"`
	// DedupWindow is how long a WithJobID id is remembered.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// RecordFlush is how long completion records may be buffered to be
	// written in one pipeline (counters lag by at most this much).
	RecordFlush time.Duration `yaml:"record_flush"`
}

// SetDefaults fills the defaults.
func (c *Config) SetDefaults() {
	if c.Prefix == "" {
		c.Prefix = "tipbox:queue:"
	}
	if c.Group == "" {
		c.Group = "tipbox"
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	if c.MinIdleTime == 0 {
		c.MinIdleTime = 10 * time.Second
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = time.Second
	}
	if c.AckFlushInterval == 0 {
		c.AckFlushInterval = 5 * time.Millisecond
	}
	if c.PromoteInterval == 0 {
		c.PromoteInterval = 20 * time.Millisecond
	}
	if c.TrimInterval == 0 {
		c.TrimInterval = time.Second
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = 24 * time.Hour
	}
	if c.RecordFlush == 0 {
		c.RecordFlush = 5 * time.Millisecond
	}
}

// ConsumerName is Consumer, or the host name when Consumer is empty (the
// default is resolved here, not in SetDefaults, so that it is not baked into
// generated documentation or shared profiles).
func (c Config) ConsumerName() string {
	if c.Consumer != "" {
		return c.Consumer
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "worker"
	}
	return h
}

// Validate checks the section; errors name the key relative to queue.redis.
func (c Config) Validate() error {
	switch {
	case strings.ContainsAny(c.Prefix, "{}"):
		return fmt.Errorf("prefix: %q must not contain { or } (the queue name is the hash tag)", c.Prefix)
	case c.Group == "":
		return fmt.Errorf("group: must not be empty")
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return fmt.Errorf("batch_size: %d is not between 1 and 10000", c.BatchSize)
	case c.MinIdleTime < time.Second:
		return fmt.Errorf("min_idle_time: %s is under 1s", c.MinIdleTime)
	case c.ClaimInterval <= 0 || c.AckFlushInterval <= 0 || c.PromoteInterval <= 0 || c.TrimInterval <= 0 || c.RecordFlush <= 0:
		return fmt.Errorf("claim_interval, ack_flush_interval, promote_interval, trim_interval, record_flush: must be positive")
	case c.DedupWindow <= 0:
		return fmt.Errorf("dedup_window: %s must be positive", c.DedupWindow)
	}
	return nil
}
