package memory

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// TestHandlerIgnoringItsContext: a handler that ignores its context past
// its 50 ms timeout is logged and counted (tipbox_queue_handler_overruns_total)
// a second after the timeout, keeps its slot until it returns (with one
// slot, the next job does not start before), and its attempt fails with
// "timeout" although the handler returned no error: a timeout counts as a
// failed attempt.
func TestHandlerIgnoringItsContext(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.Concurrency = 1
	b, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	reg := prometheus.NewRegistry()
	m, err := queue.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	release := make(chan struct{})
	var mu sync.Mutex
	started := map[string]time.Time{}
	w, err := queue.NewWorker(cfg, b, []queue.Handler{{Queue: "jobs", Timeout: 50 * time.Millisecond,
		Retry: &queue.RetryPolicy{MaxAttempts: 1},
		Handle: func(_ context.Context, j *queue.Job) error {
			mu.Lock()
			started[j.Name] = time.Now()
			mu.Unlock()
			if j.Name == "stubborn" {
				<-release // ignores its context, and succeeds late
				return nil
			}
			return nil
		}}}, logger, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := startOverrunWorker(t, w, cfg, b)
	stubborn, err := c.Enqueue(ctx, "jobs", "stubborn", nil)
	if err != nil {
		t.Fatal(err)
	}
	overruns := func() float64 {
		const want = `
# HELP tipbox_queue_handler_overruns_total Attempts whose handler still ran a second past its timeout (it ignores its context).
# TYPE tipbox_queue_handler_overruns_total counter
tipbox_queue_handler_overruns_total{queue="jobs"} 1
`
		if testutil.GatherAndCompare(reg, strings.NewReader(want), "tipbox_queue_handler_overruns_total") != nil {
			return 0
		}
		return 1
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !started["stubborn"].IsZero()
	}, "the stubborn job never started")
	if _, err := c.Enqueue(ctx, "jobs", "next", nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return overruns() == 1 }, "overrun not counted; logs: %s", logs.String())
	mu.Lock()
	late := time.Since(started["stubborn"])
	_, nextRan := started["next"]
	mu.Unlock()
	if late < time.Second {
		t.Fatalf("counted %s after the start, before the second of grace past the 50ms timeout", late)
	}
	if nextRan {
		t.Fatal("the next job started while the stubborn handler still held the only slot")
	}
	if out := logs.String(); !strings.Contains(out, "ignores its context") || !strings.Contains(out, stubborn) {
		t.Fatalf("no warning naming the job: %s", out)
	}
	close(release)
	testenv.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := started["next"]
		return ok
	}, "the next job did not start once the slot was free")
	testenv.Eventually(t, 5*time.Second, func() bool {
		j, err := b.Job(ctx, "jobs", stubborn)
		return err == nil && j.State == queue.StateFailed && j.Error == "timeout"
	}, "the stubborn attempt did not fail with timeout")
}

// TestBatchHandlerIgnoringItsContext: a batch handler that ignores its
// context past its 50 ms timeout is logged, and counted once for each job
// of the batch, a second after the batch started; its jobs fail with
// "timeout" although it answered no error for them.
func TestBatchHandlerIgnoringItsContext(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	b, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	reg := prometheus.NewRegistry()
	m, err := queue.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	release := make(chan struct{})
	var mu sync.Mutex
	var started time.Time
	w, err := queue.NewWorker(cfg, b, []queue.Handler{queue.BatchHandler{Queue: "jobs", Name: "stubborn",
		MaxSize: 2, MaxWait: time.Second, Timeout: 50 * time.Millisecond, Retry: &queue.RetryPolicy{MaxAttempts: 1},
		Handle: func(_ context.Context, jobs []*queue.Job) []error {
			mu.Lock()
			started = time.Now()
			mu.Unlock()
			<-release // ignores its context, and succeeds late
			return make([]error, len(jobs))
		}}.Handler()}, logger, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := startOverrunWorker(t, w, cfg, b)
	var ids []string
	for range 2 {
		id, err := c.Enqueue(ctx, "jobs", "stubborn", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	const want = `
# HELP tipbox_queue_handler_overruns_total Attempts whose handler still ran a second past its timeout (it ignores its context).
# TYPE tipbox_queue_handler_overruns_total counter
tipbox_queue_handler_overruns_total{queue="jobs"} 2
`
	testenv.Eventually(t, 5*time.Second, func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(want), "tipbox_queue_handler_overruns_total") == nil
	}, "overruns not counted; logs: %s", testenv.Later(func() any { return logs.String() }))
	mu.Lock()
	late := time.Since(started)
	mu.Unlock()
	if late < time.Second {
		t.Fatalf("counted %s after the batch started, before the second of grace past the 50ms timeout", late)
	}
	if out := logs.String(); !strings.Contains(out, "ignores its context") || !strings.Contains(out, "stubborn") {
		t.Fatalf("no warning naming the handler: %s", out)
	}
	close(release)
	for _, id := range ids {
		testenv.Eventually(t, 5*time.Second, func() bool {
			j, err := b.Job(ctx, "jobs", id)
			return err == nil && j.State == queue.StateFailed && j.Error == "timeout"
		}, "a job of the stubborn batch did not fail with timeout")
	}
}

// startOverrunWorker starts w, stopped when the test ends, and returns a
// client of its queue.
func startOverrunWorker(t *testing.T, w *queue.Worker, cfg queue.Config, b queue.Backend) *queue.Client {
	t.Helper()
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(stopCtx)
	})
	c, err := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
