package queue

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/config"
)

// Config is the config section `queue`. Driver-specific tuning lives in its
// own section (e.g. `queue.redis`), decoded by the driver's module.
type Config struct {
	// Driver names a registered driver: "memory" (in-process, embedded
	// profile), "redis" or "postgres" (shared between processes; postgres
	// keeps jobs in the application's database and can enqueue inside its
	// transactions).
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
	// PausePoll is how often a worker whose queue is paused looks again.
	PausePoll time.Duration `yaml:"pause_poll"`
	// MaxStalled is how many deliveries of a job may be cut short by the
	// death of their worker (crash, OOM, kill) before the job is
	// dead-lettered with the error "stalled". Each such delivery counts
	// as an attempt.
	MaxStalled int `yaml:"max_stalled"`
	// Heartbeat is how often a worker tells the backend that its running
	// jobs are alive (drivers take back jobs whose heartbeat stops).
	Heartbeat time.Duration `yaml:"heartbeat"`
	// Events bounds each queue's event history.
	Events EventsConfig `yaml:"events"`
	// Logs bounds the log lines kept per job.
	Logs LogsConfig `yaml:"logs"`
	// Queues lists the queue names; Enqueue and Admin refuse other names.
	Queues []string `yaml:"queues"`
	// Limits caps queues at N jobs started per duration across all
	// workers, as "<queue>=<N>/<duration>" (e.g. "emails=50/1s").
	Limits []string `yaml:"limits"`
	// GroupLimit caps each group (WithGroup) at N jobs started per
	// duration across all workers, as "<N>/<duration>" ("": none).
	GroupLimit string `yaml:"group_limit"`
	// GroupConcurrency caps each group's running jobs across all workers
	// (0: none).
	GroupConcurrency int `yaml:"group_concurrency"`
}

// Limit is N jobs per duration, spread evenly: starts are spaced Per/Max
// apart, with a burst of at most a tenth of Max (at least one) at once, so
// any window of length Per holds at most Max plus that burst (the generic
// cell rate algorithm; a fixed window would allow twice Max across a
// window's edge).
type Limit struct {
	Max int
	Per time.Duration
}

// Spacing returns the time between starts and the burst tolerance.
func (l Limit) Spacing() (step, tolerance time.Duration) {
	step = l.Per / time.Duration(l.Max)
	if step <= 0 {
		step = 1
	}
	return step, step * time.Duration(max(l.Max/10, 1)-1)
}

// ParseLimit reads "<N>/<duration>" (e.g. "200/1s").
func ParseLimit(s string) (Limit, error) {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("%q is not <N>/<duration>, e.g. 200/1s", s)
	}
	max, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || max < 1 {
		return Limit{}, fmt.Errorf("%q: N must be a whole number of at least 1", s)
	}
	per, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil || per < time.Millisecond {
		return Limit{}, fmt.Errorf("%q: the duration must be at least 1ms, such as 1s or 1m", s)
	}
	return Limit{Max: max, Per: per}, nil
}

// GroupLimits returns the per-group limit (Max 0: none).
func (c Config) GroupLimits() Limit {
	l, _ := ParseLimit(c.GroupLimit)
	return l
}

// QueueLimits returns the limits by queue name (Validate has checked them).
func (c Config) QueueLimits() map[string]Limit {
	out := map[string]Limit{}
	for _, l := range c.Limits {
		q, spec, _ := strings.Cut(l, "=")
		if lim, err := ParseLimit(spec); err == nil {
			out[strings.TrimSpace(q)] = lim
		}
	}
	return out
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
// Completed also bounds cancelled jobs. Failed (dead) jobs are kept by
// count and by age, whichever drops first; every drop is logged and
// counted (tipbox_queue_dead_dropped_total).
type RetentionConfig struct {
	Completed int           `yaml:"completed"`
	Failed    int           `yaml:"failed"`
	FailedAge time.Duration `yaml:"failed_age"`
}

// EventsConfig bounds a queue's event history (what a dropped events
// stream can resume from).
type EventsConfig struct {
	MaxLen int `yaml:"max_len"`
}

// LogsConfig bounds each job's log.
type LogsConfig struct {
	MaxLines int `yaml:"max_lines"`
	MaxBytes int `yaml:"max_bytes"`
}

// SetDefaults fills the defaults (docs/configuration.md).
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
	if c.Retry.Backoff.Max == 0 {
		c.Retry.Backoff.Max = time.Hour
	}
	if c.Retention.Completed == 0 {
		c.Retention.Completed = 100
	}
	if c.Retention.Failed == 0 {
		c.Retention.Failed = 50
	}
	if c.Retention.FailedAge == 0 {
		c.Retention.FailedAge = 7 * 24 * time.Hour
	}
	if c.MaxStalled == 0 {
		c.MaxStalled = 1
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 2 * time.Second
	}
	if c.Events.MaxLen == 0 {
		c.Events.MaxLen = 10000
	}
	if c.Logs.MaxLines == 0 {
		c.Logs.MaxLines = 100
	}
	if c.Logs.MaxBytes == 0 {
		c.Logs.MaxBytes = 1024
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.PausePoll == 0 {
		c.PausePoll = 100 * time.Millisecond
	}
}

var queueName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate checks the section; errors name the key relative to `queue`.
func (c Config) Validate() error {
	switch {
	case c.Driver == "":
		return fmt.Errorf("driver: must be set (memory, redis, postgres)")
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("concurrency: %d is not between 1 and 10000", c.Concurrency)
	case c.Retry.MaxAttempts < 1:
		return fmt.Errorf("retry.max_attempts: %d is less than 1", c.Retry.MaxAttempts)
	case c.Retry.Backoff.Initial < 0:
		return fmt.Errorf("retry.backoff.initial: %s is negative", c.Retry.Backoff.Initial)
	case c.Retry.Backoff.Multiplier < 1:
		return fmt.Errorf("retry.backoff.multiplier: %g is less than 1", c.Retry.Backoff.Multiplier)
	case c.Retry.Backoff.Max <= 0:
		return fmt.Errorf("retry.backoff.max: %s must be positive", c.Retry.Backoff.Max)
	case c.Retry.Backoff.Initial > c.Retry.Backoff.Max:
		return fmt.Errorf("retry.backoff.initial: %s is above retry.backoff.max (%s)", c.Retry.Backoff.Initial, c.Retry.Backoff.Max)
	case c.Retention.Completed < 0:
		return fmt.Errorf("retention.completed: %d is negative", c.Retention.Completed)
	case c.Retention.Failed < 0:
		return fmt.Errorf("retention.failed: %d is negative", c.Retention.Failed)
	case c.Retention.FailedAge < time.Minute:
		return fmt.Errorf("retention.failed_age: %s is under 1m", c.Retention.FailedAge)
	case c.MaxStalled < 0:
		return fmt.Errorf("max_stalled: %d is negative", c.MaxStalled)
	case c.Heartbeat < 10*time.Millisecond || c.Heartbeat > time.Minute:
		return fmt.Errorf("heartbeat: %s is not between 10ms and 1m", c.Heartbeat)
	case c.Events.MaxLen < 100 || c.Events.MaxLen > 10_000_000:
		return fmt.Errorf("events.max_len: %d is not between 100 and 10000000", c.Events.MaxLen)
	case c.Logs.MaxLines < 0 || c.Logs.MaxLines > 10000:
		return fmt.Errorf("logs.max_lines: %d is not between 0 and 10000", c.Logs.MaxLines)
	case c.Logs.MaxBytes < 16 || c.Logs.MaxBytes > 65536:
		return fmt.Errorf("logs.max_bytes: %d is not between 16 and 65536", c.Logs.MaxBytes)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("shutdown_timeout: %s must be positive", c.ShutdownTimeout)
	case c.JobTimeout < 0:
		return fmt.Errorf("job_timeout: %s is negative", c.JobTimeout)
	case c.PausePoll <= 0:
		return fmt.Errorf("pause_poll: %s must be positive", c.PausePoll)
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
	if c.GroupLimit != "" {
		if _, err := ParseLimit(c.GroupLimit); err != nil {
			return fmt.Errorf("group_limit: %w", err)
		}
	}
	if c.GroupConcurrency < 0 {
		return fmt.Errorf("group_concurrency: %d is negative", c.GroupConcurrency)
	}
	limited := map[string]bool{}
	for _, l := range c.Limits {
		q, spec, ok := strings.Cut(l, "=")
		q = strings.TrimSpace(q)
		if !ok {
			return fmt.Errorf("limits: %q is not <queue>=<N>/<duration>, e.g. emails=50/1s", l)
		}
		if limited[q] {
			return fmt.Errorf("limits: queue %q is limited twice", q)
		}
		limited[q] = true
		if _, err := ParseLimit(spec); err != nil {
			return fmt.Errorf("limits: %w", err)
		}
	}
	return nil
}

// Backoff returns the wait before the attempt after `attempt` (1-based):
// Initial × Multiplier^(attempt-1), never above Max (when Max > 0) nor
// above the largest Duration, and never below zero. It is monotone in
// attempt.
func (b BackoffConfig) Backoff(attempt int) time.Duration {
	limit := float64(math.MaxInt64)
	if b.Max > 0 {
		limit = float64(b.Max)
	}
	d := float64(max(b.Initial, 0))
	for i := 1; i < attempt && d < limit; i++ {
		d *= b.Multiplier
	}
	if d >= limit {
		if b.Max > 0 {
			return b.Max
		}
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// WithQueues returns c with the queues the modules declare first, then
// the ones queue.queues adds, and checks what only the whole list tells:
// that there is a queue, and that every limit names one. Its errors are
// configuration errors (config.ErrInvalid).
func (c Config) WithQueues(declared []string) (Config, error) {
	all := make([]string, 0, len(declared)+len(c.Queues))
	seen := map[string]bool{}
	for _, q := range declared {
		if !queueName.MatchString(q) {
			return c, fmt.Errorf("%w: queue %q is not a queue name (1-64 of letters, digits, _ . -)", ErrBadQueueName, q)
		}
		if !seen[q] {
			seen[q] = true
			all = append(all, q)
		}
	}
	for _, q := range c.Queues {
		if !seen[q] {
			seen[q] = true
			all = append(all, q)
		}
	}
	if len(all) == 0 {
		return c, fmt.Errorf("config: %w: queue.queues: no module declares a queue and the profile lists none", config.ErrInvalid)
	}
	for _, l := range c.Limits {
		q, _, _ := strings.Cut(l, "=")
		if q = strings.TrimSpace(q); !seen[q] {
			return c, fmt.Errorf("config: %w: queue.limits: %q names no queue (declared: %s)", config.ErrInvalid, q, strings.Join(all, ", "))
		}
	}
	c.Queues = all
	return c, nil
}

func (c Config) hasQueue(name string) bool {
	for _, q := range c.Queues {
		if q == name {
			return true
		}
	}
	return false
}
