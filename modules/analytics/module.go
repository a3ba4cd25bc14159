package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tipbox/tipbox/core/module"
	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/modules/analytics/migrations"
)

// Config is the `analytics` section.
type Config struct {
	// BatchSize is the most jobs one aggregate write covers. Writes are
	// serialised, so it bounds the module's rate: in one run on the
	// embedded profile, 100 handled 6.9k events/s end to end and 1000
	// handled 16.8k/s (docs/benchmarks.md, "End to end").
	BatchSize int `yaml:"batch_size"`
	// BatchWait is the longest a job waits for its batch to fill.
	BatchWait time.Duration `yaml:"batch_wait"`
	// DedupWindow is how long counted job ids are remembered.
	DedupWindow time.Duration `yaml:"dedup_window"`
}

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchWait == 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = 7 * 24 * time.Hour
	}
}

// Validate checks the values.
func (c Config) Validate() error {
	switch {
	case c.BatchSize < 1:
		return fmt.Errorf("batch_size: %d must be at least 1", c.BatchSize)
	case c.BatchWait <= 0:
		return fmt.Errorf("batch_wait: %s must be positive", c.BatchWait)
	case c.DedupWindow < time.Hour:
		return fmt.Errorf("dedup_window: %s must be at least 1h", c.DedupWindow)
	}
	return nil
}

// PruneJob is the job that forgets counted job ids past dedup_window; the
// schedule "analytics-prune" makes one every hour.
const PruneJob = "prune"

func newAggregator(s *Store, cfg Config, log *slog.Logger) *Aggregator {
	return NewAggregator(s, cfg.BatchSize, cfg.BatchWait, log)
}

// pruneHandler forgets counted job ids past the dedup window. It takes its
// jobs as batches of one, so that every handler of the analytics queue is
// a batch handler: the worker then claims events for the aggregator's
// batches many at a time, not only for its free slots (queue.BatchHandler).
func pruneHandler(s *Store, cfg Config, log *slog.Logger) queue.Handler {
	return queue.BatchHandler{Queue: Queue, Name: PruneJob, MaxSize: 1, MaxWait: time.Millisecond,
		Handle: func(ctx context.Context, jobs []*queue.Job) []error {
			n, err := s.pruneSeen(ctx, time.Now().Add(-cfg.DedupWindow))
			if err == nil && n > 0 {
				log.Info("analytics: pruned counted job ids past the dedup window", "rows", n)
			}
			errs := make([]error, len(jobs))
			for i := range errs {
				errs[i] = err
			}
			return errs
		}}.Handler()
}

// Module is the analytics module: the store, the routes, the aggregating
// batch handler, and the hourly prune schedule (stored by whichever
// process starts first; every process with the queue keeps its ticks).
var Module = module.Spec{
	Name:       "analytics",
	Config:     module.Config[Config](),
	Migrations: migrations.FS,
	Queues:     []string{Queue},
	Provide:    []any{NewStore, newAggregator},
	Routes:     []any{NewRoutes},
	Jobs: []any{
		func(a *Aggregator) queue.Handler { return a.QueueHandler() },
		pruneHandler,
	},
	Schedules: []queue.Schedule{{ID: "analytics-prune", Queue: Queue, Name: PruneJob, Cron: "@hourly",
		Priority: queue.PriorityLow, Missed: queue.MissedCatchUpOnce}},
}
