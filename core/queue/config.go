package queue

import (
	"fmt"
	"regexp"
	"time"
)

// Config is the config section `queue`. Driver-specific tuning lives in its
// own section (e.g. `queue.redis`), decoded by the driver's module.
type Config struct {
	// Driver names a registered driver: "memory" (in-process, embedded
	// profile) or "redis" (shared between processes).
	Driver string `yaml:"driver"`
	// Concurrency is the number of jobs of one queue a process runs at once.
	Concurrency int `yaml:"concurrency"`
	// Retry is the attempt budget and the backoff between attempts.
	Retry RetryConfig `yaml:"retry"`
	// Retention bounds the records kept for inspection; counters keep totals.
	Retention RetentionConfig `yaml:"retention"`
	// ShutdownTimeout is how long a stopping worker lets running jobs finish.
	// It must fit in fx's stop budget (15 s by default).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// JobTimeout cancels a handler's context after this long (0: no limit).
	JobTimeout time.Duration `yaml:"job_timeout"`
	// PausePoll is how often a worker re-reads the paused flags.
	PausePoll time.Duration `yaml:"pause_poll"`
	// Queues lists the queue names; Enqueue and Admin refuse other names.
	Queues []string `yaml:"queues"`
}

// RetryConfig: MaxAttempts counts all attempts, the first one included.
type RetryConfig struct {
	MaxAttempts int           `yaml:"max_attempts"`
	Backoff     BackoffConfig `yaml:"backoff"`
}

// BackoffConfig is exponential: Initial × Multiplier^(attempt-1), capped at
// Max when Max > 0.
type BackoffConfig struct {
	Initial    time.Duration `yaml:"initial"`
	Multiplier float64       `yaml:"multiplier"`
	Max        time.Duration `yaml:"max"`
}

// RetentionConfig is how many finished job records each queue keeps.
type RetentionConfig struct {
	Completed int `yaml:"completed"`
	Failed    int `yaml:"failed"`
}

// SetDefaults fills the defaults of SPEC §3.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = "memory"
	}
	if c.Concurrency == 0 {
		c.Concurrency = 5
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 3
	}
	if c.Retry.Backoff.Initial == 0 {
		c.Retry.Backoff.Initial = 2 * time.Second
	}
	if c.Retry.Backoff.Multiplier == 0 {
		c.Retry.Backoff.Multiplier = 2
	}
	if c.Retention.Completed == 0 {
		c.Retention.Completed = 100
	}
	if c.Retention.Failed == 0 {
		c.Retention.Failed = 50
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.PausePoll == 0 {
		c.PausePoll = 100 * time.Millisecond
	}
	if len(c.Queues) == 0 {
		c.Queues = []string{"notifications", "analytics"}
	}
}

var queueName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate checks the section; errors name the key relative to `queue`.
func (c Config) Validate() error {
	switch {
	case c.Driver == "":
		return fmt.Errorf("driver: must be set (memory, redis)")
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("concurrency: %d is not between 1 and 10000", c.Concurrency)
	case c.Retry.MaxAttempts < 1:
		return fmt.Errorf("retry.max_attempts: %d is less than 1", c.Retry.MaxAttempts)
	case c.Retry.Backoff.Initial < 0:
		return fmt.Errorf("retry.backoff.initial: %s is negative", c.Retry.Backoff.Initial)
	case c.Retry.Backoff.Multiplier < 1:
		return fmt.Errorf("retry.backoff.multiplier: %g is less than 1", c.Retry.Backoff.Multiplier)
	case c.Retry.Backoff.Max < 0:
		return fmt.Errorf("retry.backoff.max: %s is negative", c.Retry.Backoff.Max)
	case c.Retention.Completed < 0:
		return fmt.Errorf("retention.completed: %d is negative", c.Retention.Completed)
	case c.Retention.Failed < 0:
		return fmt.Errorf("retention.failed: %d is negative", c.Retention.Failed)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("shutdown_timeout: %s must be positive", c.ShutdownTimeout)
	case c.JobTimeout < 0:
		return fmt.Errorf("job_timeout: %s is negative", c.JobTimeout)
	case c.PausePoll <= 0:
		return fmt.Errorf("pause_poll: %s must be positive", c.PausePoll)
	case len(c.Queues) == 0:
		return fmt.Errorf("queues: at least one queue is required")
	}
	seen := map[string]bool{}
	for _, q := range c.Queues {
		if !queueName.MatchString(q) {
			return fmt.Errorf("queues: %q is not a queue name (1-64 of letters, digits, _ . -)", q)
		}
		if seen[q] {
			return fmt.Errorf("queues: %q is listed twice", q)
		}
		seen[q] = true
	}
	return nil
}

// Backoff returns the wait before the attempt after `attempt` (1-based).
func (b BackoffConfig) Backoff(attempt int) time.Duration {
	d := float64(b.Initial)
	for i := 1; i < attempt; i++ {
		d *= b.Multiplier
		if b.Max > 0 && d >= float64(b.Max) {
			return b.Max
		}
	}
	if b.Max > 0 && time.Duration(d) > b.Max {
		return b.Max
	}
	return time.Duration(d)
}

func (c Config) hasQueue(name string) bool {
	for _, q := range c.Queues {
		if q == name {
			return true
		}
	}
	return false
}
