// Package queuetest is the job-semantics suite every queue backend runs
// (docs/operations.md): retries and backoff, dead letters and their retry, retries
// holding no worker slot, priority, delay, stats, retention, pause, dedup,
// undecodable entries and graceful shutdown.
package queuetest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
)

// Harness adapts a backend to the suite.
type Harness struct {
	// NewBackend opens a fresh, empty backend for cfg (queues "jobs" and
	// "other"); it closes it when the test ends. Tests run in parallel.
	NewBackend func(t *testing.T, cfg queue.Config) queue.Backend
	// InjectUndecodable writes an entry to the queue that is not a job
	// envelope, the way an operator could by hand. Nil skips that test.
	InjectUndecodable func(t *testing.T, b queue.Backend, queueName string)
	// Slow scales the timing bounds for slower backends (0 or 1: as is).
	Slow float64
}

// Config returns the suite's base config: queues "jobs" and "other",
// concurrency 5, 3 attempts, fast backoff.
func Config() queue.Config {
	cfg := queue.Config{Driver: "test", Queues: []string{"jobs", "other"}, PausePoll: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second, Heartbeat: 100 * time.Millisecond}
	cfg.Retry.Backoff.Initial = 50 * time.Millisecond
	cfg.SetDefaults()
	return cfg
}

// Run runs every test of the suite as a parallel subtest.
func Run(t *testing.T, h Harness) {
	// Timing-bound tests run first, one at a time, so the parallel ones
	// (a 10,000-job backlog among them) do not starve them of CPU.
	tests := []struct {
		name   string
		fn     func(*testing.T, Harness)
		serial bool
	}{
		{"Delay", testDelay, true},
		{"RetryHoldsNoSlot", testRetryHoldsNoSlot, true},
		{"OneSlotFree", testOneSlotFree, false},
		{"RetryFailedOnce", testRetryFailedOnce, false},
		{"RetryBackoffAndDeadLetter", testRetryBackoffAndDeadLetter, false},
		{"PriorityBeatsBacklog", testPriority, false},
		{"StatsGroundTruth", testStats, false},
		{"LastEvent", testLastEvent, false},
		{"Retention", testRetention, false},
		{"PauseResume", testPause, false},
		{"Dedup", testDedup, false},
		{"BulkAndPanic", testBulkAndPanic, false},
		{"Undecodable", testUndecodable, false},
		{"GracefulShutdown", testGraceful, false},
		{"JobAPI", testJobAPI, false},
		{"Events", testEvents, false},
		{"Stalled", testStalled, false},
		{"PriorityAcrossWorkers", testPriorityAcrossWorkers, true},
		{"ReleasedOnShutdown", testReleasedOnShutdown, false},
		{"Paging", testPaging, false},
		{"Timeout", testTimeout, false},
		{"RetryPolicy", testRetryPolicy, false},
		{"RateLimited", testRateLimited, false},
		{"QueueLimit", testQueueLimit, false},
		{"LimitBurst", testLimitBurst, false},
		{"GroupLimit", testGroupLimit, false},
		{"Schedules", testSchedules, false},
		{"Batch", testBatch, false},
		{"Groups", testGroups, false},
		{"GroupWake", testGroupWake, false},
		{"GroupNewcomer", testGroupNewcomer, false},
		{"BatchShutdown", testBatchShutdown, false},
		{"BatchClaims", testBatchClaims, false},
		{"BatchTimeout", testBatchTimeout, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.serial {
				t.Parallel()
			}
			tc.fn(t, h)
		})
	}
}

// Logger discards everything, or with TIPBOX_TEST_QUEUE_LOG=1 writes
// warnings and errors to stderr (to see why a test got stuck).
func Logger() *slog.Logger {
	if os.Getenv("TIPBOX_TEST_QUEUE_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// Env is one test's backend, client, admin and (re)startable workers.
type Env struct {
	T       *testing.T
	Cfg     queue.Config
	Backend queue.Backend
	Client  *queue.Client
	Admin   *queue.Admin
	// APIWriteTimeout is the write timeout of the server ServeAPI starts
	// (0: the server's default).
	APIWriteTimeout time.Duration
}

// NewEnv opens a backend for cfg through h.
func NewEnv(t *testing.T, h Harness, cfg queue.Config) *Env {
	t.Helper()
	b := h.NewBackend(t, cfg)
	c, err := queue.NewClient(cfg, b, Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{T: t, Cfg: cfg, Backend: b, Client: c, Admin: queue.NewAdmin(cfg, b)}
}

// StartWorker starts a worker with the handlers; it is stopped at cleanup
// unless stopped before.
func (e *Env) StartWorker(handlers ...queue.Handler) *queue.Worker {
	e.T.Helper()
	w, err := queue.NewWorker(e.Cfg, e.Backend, handlers, Logger(), nil)
	if err != nil {
		e.T.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// Stats reads one queue's stats or fails the test.
func (e *Env) Stats(q string) queue.Stats {
	e.T.Helper()
	s, err := e.Admin.QueueStats(context.Background(), q)
	if err != nil {
		e.T.Fatal(err)
	}
	return s
}

func scale(h Harness, d time.Duration) time.Duration {
	if h.Slow > 1 {
		return time.Duration(float64(d) * h.Slow)
	}
	return d
}

// lateness is how late a delayed job may start: 100 ms, scaled for
// slow backends, and tripled under the race detector, whose overhead on a
// loaded 2-core machine alone can exceed it.
func lateness(h Harness) time.Duration {
	d := scale(h, 100*time.Millisecond)
	if raceEnabled {
		d *= 3
	}
	return d
}
