package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

var errBoom = errors.New("boom")

func testRetryBackoffAndDeadLetter(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	var mu sync.Mutex
	var runs []time.Time
	var succeed atomic.Bool
	e.StartWorker(queue.Handler{Queue: "jobs", Name: "flaky", Handle: func(_ context.Context, j *queue.Job) error {
		mu.Lock()
		runs = append(runs, time.Now())
		mu.Unlock()
		if succeed.Load() {
			return nil
		}
		return fmt.Errorf("attempt %d: %w", j.Attempt, errBoom)
	}})
	id, err := e.Client.Enqueue(ctx, "jobs", "flaky", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	var failed []queue.FailedJob
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
		failed, err = e.Admin.Failed(ctx, "jobs", 10)
		return err == nil && len(failed) == 1
	}, "job never reached the dead-letter store (err %v)", err)
	f := failed[0]
	if f.ID != id || f.Attempts != 3 || !strings.Contains(f.Error, "attempt 3: boom") || string(f.Payload) != `{"n":1}` {
		t.Fatalf("dead letter %+v", f)
	}
	mu.Lock()
	if len(runs) != 3 {
		t.Fatalf("ran %d times, want 3", len(runs))
	}
	// Backoff 50ms then 100ms (initial 50ms, ×2).
	if d := runs[1].Sub(runs[0]); d < 50*time.Millisecond {
		t.Fatalf("second attempt %s after the first, want >= 50ms", d)
	}
	if d := runs[2].Sub(runs[1]); d < 100*time.Millisecond {
		t.Fatalf("third attempt %s after the second, want >= 100ms", d)
	}
	mu.Unlock()
	if s := e.Stats("jobs"); s.Failed != 1 || s.Completed != 0 || s.Delayed != 0 {
		t.Fatalf("stats %+v", s)
	}

	// Retry from the dead-letter store runs the job again.
	succeed.Store(true)
	if err := e.Admin.Retry(ctx, "jobs", id); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.Stats("jobs").Completed == 1 }, "retried job did not complete")
	if failed, _ = e.Admin.Failed(ctx, "jobs", 10); len(failed) != 0 {
		t.Fatalf("dead letters after retry: %+v", failed)
	}
	if err := e.Admin.Retry(ctx, "jobs", id); !errors.Is(err, queue.ErrJobState) {
		t.Fatalf("retry of a completed job: %v, want ErrJobState", err)
	}
	if err := e.Admin.Retry(ctx, "jobs", "no-such-job"); !errors.Is(err, queue.ErrJobNotFound) {
		t.Fatalf("retry of an unknown job: %v, want ErrJobNotFound", err)
	}
	if err := e.Admin.Retry(ctx, "nope", id); !errors.Is(err, queue.ErrQueueNotFound) {
		t.Fatalf("unknown queue: %v", err)
	}
}

func testRetryHoldsNoSlot(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Retry.Backoff.Initial = 2 * time.Second // BullMQ's usual 2 s
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	if _, err := e.Client.Enqueue(ctx, "jobs", "bad", nil); err != nil {
		t.Fatal(err)
	}
	jobs := make([]queue.NewJob, 200)
	for i := range jobs {
		jobs[i] = queue.NewJob{Name: "good", Payload: i}
	}
	if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
		t.Fatal(err)
	}
	var good atomic.Int64
	start := time.Now()
	e.StartWorker(
		queue.Handler{Queue: "jobs", Name: "bad", Handle: func(context.Context, *queue.Job) error { return errBoom }},
		queue.Handler{Queue: "jobs", Name: "good", Handle: func(context.Context, *queue.Job) error {
			good.Add(1)
			return nil
		}})
	testenv.Eventually(t, scale(h, time.Second), func() bool { return good.Load() == 200 }, "200 good jobs not done in 1s: %d", good.Load())
	t.Logf("200 good jobs behind a failing one: %s", time.Since(start))
	if s := e.Stats("jobs"); s.Delayed != 1 {
		t.Fatalf("failing job should wait in delayed: %+v", s)
	}
}

// testOneSlotFree: with 4 of its 5 slots held by jobs that run until the
// test ends, a worker still drains the queue through its fifth slot (a
// claim that waits for more free slots gives up after a round trip).
func testOneSlotFree(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	hold := make(chan struct{})
	defer close(hold)
	var held, quick atomic.Int64
	e.StartWorker(
		queue.Handler{Queue: "jobs", Name: "long", Handle: func(ctx context.Context, _ *queue.Job) error {
			held.Add(1)
			select {
			case <-hold:
			case <-ctx.Done():
			}
			return nil
		}},
		queue.Handler{Queue: "jobs", Name: "quick", Handle: func(context.Context, *queue.Job) error {
			quick.Add(1)
			return nil
		}})
	for range 4 {
		if _, err := e.Client.Enqueue(ctx, "jobs", "long", nil); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return held.Load() == 4 }, "long jobs not started: %d", testenv.Later(func() any { return held.Load() }))
	jobs := make([]queue.NewJob, 300)
	for i := range jobs {
		jobs[i] = queue.NewJob{Name: "quick", Payload: i}
	}
	if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return quick.Load() == 300 }, "quick jobs through one free slot: %d of 300", testenv.Later(func() any { return quick.Load() }))
}

// testRetryFailedOnce: retry-failed retries each failed job once per
// call, even when a job fails again at once (the worker may put it back
// among the failed before the call is done with the list).
func testRetryFailedOnce(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Retry.MaxAttempts = 1
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	var runs atomic.Int64
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error {
		runs.Add(1)
		return errBoom
	}})
	if _, err := e.Client.Enqueue(ctx, "jobs", "bad", nil); err != nil {
		t.Fatal(err)
	}
	for round := int64(1); round <= 100; round++ {
		testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.Stats("jobs").Failed == round },
			"round %d: job not failed: %+v", round, testenv.Later(func() any { return e.Stats("jobs") }))
		n, err := e.Admin.RetryFailed(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("round %d: retry-failed of one failed job retried %d", round, n)
		}
	}
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return runs.Load() == 101 }, "runs: %d, want 101", testenv.Later(func() any { return runs.Load() }))
}

func testPriority(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	// The worker is up (paused, so the backlog builds up behind it), as in
	// production where a backlog forms in front of running workers.
	if err := e.Admin.Pause(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	var seq atomic.Int64
	var highAt, lowAt atomic.Int64
	var high, low atomic.Value
	high.Store("")
	low.Store("")
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		n := seq.Add(1)
		switch j.ID {
		case high.Load().(string):
			highAt.Store(n)
		case low.Load().(string):
			lowAt.Store(n)
		}
		return nil
	}})
	const backlog = 10000
	for i := 0; i < backlog; i += 1000 {
		jobs := make([]queue.NewJob, 1000)
		for k := range jobs {
			jobs[k] = queue.NewJob{Name: "bulk", Payload: i + k}
		}
		if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		prio queue.Priority
		id   *atomic.Value
	}{{queue.PriorityLow, &low}, {queue.PriorityHigh, &high}} {
		id, err := e.Client.Enqueue(ctx, "jobs", p.prio.String(), nil, queue.WithPriority(p.prio))
		if err != nil {
			t.Fatal(err)
		}
		p.id.Store(id)
	}
	testenv.Eventually(t, 3*time.Second, func() bool { return e.Stats("jobs").Waiting+e.Stats("jobs").Active == backlog+2 }, "backlog not stored")
	if err := e.Admin.Resume(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, scale(h, 30*time.Second), func() bool { return lowAt.Load() > 0 && highAt.Load() > 0 }, "high or low job never ran")
	// "Before the backlog": ahead of all but the read-ahead window (and, on
	// a loaded machine, what ran before the high job reached its worker).
	if at := highAt.Load(); at > 200 {
		t.Fatalf("high-priority job ran as #%d of %d", at, backlog+2)
	}
	// Low is served whenever no high or normal message is at hand, which
	// a fast drain can briefly cause: its position is logged, not asserted.
	t.Logf("high ran #%d, low ran #%d of %d", highAt.Load(), lowAt.Load(), backlog+2)
}

func testDelay(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	started := make(chan time.Time, 4)
	e.StartWorker(queue.Handler{Queue: "jobs", Name: "later", Handle: func(context.Context, *queue.Job) error {
		started <- time.Now()
		return nil
	}})
	for _, d := range []time.Duration{300 * time.Millisecond, 150 * time.Millisecond} {
		t0 := time.Now()
		if _, err := e.Client.Enqueue(ctx, "jobs", "later", nil, queue.WithDelay(d)); err != nil {
			t.Fatal(err)
		}
		// Delayed until it is due: a Stats that answers after the due time
		// (a loaded machine) may already see it promoted.
		if s := e.Stats("jobs"); s.Delayed != 1 && time.Since(t0) < d {
			t.Fatalf("stats right after a delayed enqueue: %+v", s)
		}
		select {
		case at := <-started:
			got := at.Sub(t0)
			if got < d || got > d+lateness(h) {
				t.Fatalf("delay %s: ran after %s, want within [%s, %s]", d, got, d, d+lateness(h))
			}
			t.Logf("delay %s ran after %s", d, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("delayed job (%s) never ran", d)
		}
	}
}

func testStats(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Retry.MaxAttempts = 1
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	release := make(chan struct{})
	var running atomic.Int64
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		running.Add(1)
		defer running.Add(-1)
		<-release
		if j.Name == "fail" {
			return errBoom
		}
		return nil
	}})
	// 8 producers × 25 jobs, every 5th failing, plus 3 jobs delayed an hour.
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				name := "ok"
				if i%5 == 0 {
					name = "fail"
				}
				if _, err := e.Client.Enqueue(ctx, "jobs", name, i); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := 0; i < 3; i++ {
		if _, err := e.Client.Enqueue(ctx, "jobs", "ok", i, queue.WithDelay(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	testenv.Eventually(t, 5*time.Second, func() bool { return running.Load() == int64(cfg.Concurrency) }, "workers not busy")
	s := e.Stats("jobs")
	if s.Waiting+s.Active != 200 || s.Active < int64(cfg.Concurrency) || s.Delayed != 3 || s.Completed != 0 || s.Failed != 0 {
		t.Fatalf("while blocked: %+v (want waiting+active=200, active>=%d, delayed=3)", s, cfg.Concurrency)
	}
	if o := e.Stats("other"); o.LastEvent == "" || o != (queue.Stats{Name: "other", LastEvent: o.LastEvent}) {
		t.Fatalf("other queue: %+v", o)
	}
	close(release)
	testenv.Eventually(t, scale(h, 10*time.Second), func() bool {
		s = e.Stats("jobs")
		return s.Completed == 160 && s.Failed == 40 && s.Waiting == 0 && s.Active == 0
	}, "final stats %+v, want completed 160 failed 40", s)
	if s.Delayed != 3 || s.Paused {
		t.Fatalf("final stats %+v", s)
	}
	all, err := e.Admin.Stats(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "jobs" || all[1].Name != "other" {
		t.Fatalf("all stats %+v %v", all, err)
	}
}

func testRetention(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Retry.MaxAttempts = 1
	cfg.Retention.Completed, cfg.Retention.Failed = 10, 5
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	jobs := make([]queue.NewJob, 0, 60)
	for i := 0; i < 40; i++ {
		jobs = append(jobs, queue.NewJob{Name: "ok", Payload: i})
	}
	for i := 0; i < 20; i++ {
		jobs = append(jobs, queue.NewJob{Name: "fail", Payload: i})
	}
	if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
		t.Fatal(err)
	}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		if j.Name == "fail" {
			return errBoom
		}
		return nil
	}})
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
		s := e.Stats("jobs")
		return s.Completed == 40 && s.Failed == 20
	}, "jobs not done: %+v", testenv.Later(func() any { return e.Stats("jobs") }))
	failed, err := e.Admin.Failed(ctx, "jobs", 100)
	if err != nil || len(failed) != 5 {
		t.Fatalf("dead letters kept: %d (%v), want 5", len(failed), err)
	}
	for i := 1; i < len(failed); i++ {
		if failed[i].FailedAt.After(failed[i-1].FailedAt) {
			t.Fatalf("dead letters not newest first: %+v", failed)
		}
	}
}

func testPause(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	if err := e.Admin.Pause(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int64
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error {
		ran.Add(1)
		return nil
	}}, queue.Handler{Queue: "other", Handle: func(context.Context, *queue.Job) error {
		ran.Add(1000)
		return nil
	}})
	for i := 0; i < 10; i++ {
		if _, err := e.Client.Enqueue(ctx, "jobs", "x", i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Client.Enqueue(ctx, "other", "x", 0); err != nil {
		t.Fatal(err)
	}
	// The other queue flows; once it has, the paused one has had its chance.
	testenv.Eventually(t, 3*time.Second, func() bool { return ran.Load() >= 1000 }, "other queue did not run")
	time.Sleep(5 * e.Cfg.PausePoll) // a negative check needs a window: nothing may run in it
	if n := ran.Load(); n != 1000 {
		t.Fatalf("paused queue ran %d jobs", n-1000)
	}
	if s := e.Stats("jobs"); !s.Paused || s.Waiting+s.Active != 10 {
		t.Fatalf("paused stats %+v", s)
	}
	if err := e.Admin.Resume(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 3*time.Second, func() bool { return ran.Load() == 1010 }, "resumed queue ran %d", ran.Load()-1000)
	if s := e.Stats("jobs"); s.Paused {
		t.Fatalf("resumed stats %+v", s)
	}
}

func testDedup(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	a, err := e.Client.Enqueue(ctx, "jobs", "x", 1, queue.WithJobID("order-42"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Client.Enqueue(ctx, "jobs", "x", 2, queue.WithJobID("order-42"))
	if err != nil || a != "order-42" || b != a {
		t.Fatalf("ids %q %q %v", a, b, err)
	}
	if _, err := e.Client.Enqueue(ctx, "jobs", "x", 3, queue.WithJobID("order-43"), queue.WithDelay(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Enqueue(ctx, "jobs", "x", 4, queue.WithJobID("order-43")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]string{}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		mu.Lock()
		seen[j.ID] = append(seen[j.ID], string(j.Payload))
		mu.Unlock()
		return nil
	}})
	testenv.Eventually(t, 3*time.Second, func() bool { return e.Stats("jobs").Completed == 2 }, "jobs not done")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || len(seen["order-42"]) != 1 || seen["order-42"][0] != "1" || seen["order-43"][0] != "3" {
		t.Fatalf("runs %v", seen)
	}
}

func testBulkAndPanic(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Retry.Backoff.Initial = 10 * time.Millisecond
	e := NewEnv(t, h, cfg)
	ctx := queue.ContextWithCorrelationID(context.Background(), "req-7")
	jobs := make([]queue.NewJob, 1000)
	for i := range jobs {
		jobs[i] = queue.NewJob{Name: "n", Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
	}
	ids, err := e.Client.EnqueueBulk(ctx, "jobs", jobs)
	if err != nil || len(ids) != 1000 {
		t.Fatal(len(ids), err)
	}
	if _, err := e.Client.Enqueue(ctx, "jobs", "panics", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Enqueue(ctx, "missing", "x", nil); !errors.Is(err, queue.ErrQueueNotFound) {
		t.Fatalf("unknown queue: %v", err)
	}
	if _, err := e.Client.Enqueue(ctx, "jobs", "x", json.RawMessage(`{bad`)); err == nil {
		t.Fatal("invalid raw JSON payload accepted")
	}
	var mu sync.Mutex
	count := map[string]int{}
	var badCorrelation atomic.Int64
	var panics atomic.Int64
	e.StartWorker(queue.Handler{Queue: "jobs", Name: "n", Handle: func(ctx context.Context, j *queue.Job) error {
		var p struct{ I int }
		if err := j.Decode(&p); err != nil {
			return queue.Permanent(err)
		}
		if queue.CorrelationID(ctx) != "req-7" || j.CorrelationID != "req-7" {
			badCorrelation.Add(1)
		}
		mu.Lock()
		count[j.ID]++
		mu.Unlock()
		return nil
	}}, queue.Handler{Queue: "jobs", Name: "panics", Handle: func(context.Context, *queue.Job) error {
		if panics.Add(1) < 3 {
			panic("handler bug")
		}
		return nil
	}})
	testenv.Eventually(t, scale(h, 10*time.Second), func() bool { return e.Stats("jobs").Completed == 1001 }, "jobs not done: %+v", testenv.Later(func() any { return e.Stats("jobs") }))
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if count[id] != 1 {
			t.Fatalf("job %s ran %d times", id, count[id])
		}
	}
	if badCorrelation.Load() != 0 || panics.Load() != 3 {
		t.Fatalf("correlation lost %d times; panicking job ran %d times (want 3)", badCorrelation.Load(), panics.Load())
	}
}

func testUndecodable(t *testing.T, h Harness) {
	if h.InjectUndecodable == nil {
		t.Skip("backend has no way to write a raw entry")
	}
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	var ran atomic.Int64
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error {
		ran.Add(1)
		return nil
	}})
	h.InjectUndecodable(t, e.Backend, "jobs")
	for i := 0; i < 10; i++ {
		if _, err := e.Client.Enqueue(ctx, "jobs", "x", i); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return ran.Load() == 10 }, "queue stopped flowing: %d", ran.Load())
	var failed []queue.FailedJob
	testenv.Eventually(t, 5*time.Second, func() bool {
		failed, _ = e.Admin.Failed(ctx, "jobs", 10)
		return len(failed) >= 1
	}, "undecodable entry not dead-lettered")
	ids := map[string]bool{}
	for _, f := range failed {
		if !strings.Contains(f.Error, "not a decodable job") || ids[f.ID] {
			t.Fatalf("dead letter %+v (ids so far %v)", f, ids)
		}
		ids[f.ID] = true
	}
	if err := e.Admin.Retry(ctx, "jobs", failed[0].ID); !errors.Is(err, queue.ErrUndecodable) {
		t.Fatalf("retry of undecodable entry: %v", err)
	}
}

func testGraceful(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	const total = 30
	jobs := make([]queue.NewJob, total)
	for i := range jobs {
		jobs[i] = queue.NewJob{Name: "slow", Payload: i}
	}
	if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	done := map[string]int{}
	var running atomic.Int64
	handler := queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		running.Add(1)
		defer running.Add(-1)
		time.Sleep(100 * time.Millisecond) // the work itself
		mu.Lock()
		done[j.ID]++
		mu.Unlock()
		return nil
	}}
	w := e.StartWorker(handler)
	testenv.Eventually(t, 5*time.Second, func() bool { return running.Load() == int64(e.Cfg.Concurrency) }, "not busy")
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Stop(stopCtx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	mu.Lock()
	finished := len(done)
	mu.Unlock()
	if running.Load() != 0 || finished < e.Cfg.Concurrency || finished == total {
		t.Fatalf("after stop: running %d, finished %d (want the %d running ones finished, not all %d)",
			running.Load(), finished, e.Cfg.Concurrency, total)
	}
	// A restarted worker resumes at once: the rest finish in well under
	// the transport's idle takeover time.
	restart := time.Now()
	e.StartWorker(handler)
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(done) == total
	}, "restarted worker did not finish the queue")
	t.Logf("restart drained the remaining %d jobs in %s", total-finished, time.Since(restart))
	testenv.Eventually(t, 3*time.Second, func() bool { return e.Stats("jobs").Completed >= total }, "completed count")
}

// testLastEvent: events read after Stats.LastEvent are exactly those
// published after Stats answered, on a fresh queue and on a used one.
func testLastEvent(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		st, err := e.Backend.Stats(ctx, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		if evs, err := e.Backend.Events(ctx, "jobs", st.LastEvent, 10, 0); err != nil || len(evs) != 0 {
			t.Fatalf("round %d: events after LastEvent %q before any enqueue: %+v %v", round, st.LastEvent, evs, err)
		}
		id, err := e.Client.Enqueue(ctx, "jobs", "x", round)
		if err != nil {
			t.Fatal(err)
		}
		var evs []queue.Event
		testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
			evs, err = e.Backend.Events(ctx, "jobs", st.LastEvent, 10, 0)
			return err != nil || len(evs) > 0
		}, "no event after LastEvent")
		if err != nil || len(evs) != 1 || evs[0].JobID != id || evs[0].State != queue.StateWaiting {
			t.Fatalf("round %d: events after LastEvent %q: %+v %v (want %s waiting)", round, st.LastEvent, evs, err, id)
		}
	}
}
