package queuetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// testBatch: a batch handler gets batches far larger than the queue's
// concurrency (waiting jobs hold no slot), settles each job on its own (a
// job failing in a batch is retried alone), and a lone job runs after
// MaxWait.
func testBatch(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Concurrency = 2
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	var mu sync.Mutex
	var sizes []int
	runs := map[string]int{}
	var failedOnce atomic.Int64
	e.StartWorker(queue.BatchHandler{Queue: "jobs", MaxSize: 50, MaxWait: 100 * time.Millisecond,
		Handle: func(_ context.Context, jobs []*queue.Job) []error {
			errs := make([]error, len(jobs))
			mu.Lock()
			defer mu.Unlock()
			sizes = append(sizes, len(jobs))
			for i, j := range jobs {
				runs[j.ID]++
				var p struct{ N int }
				_ = j.Decode(&p)
				if p.N%7 == 0 && j.Attempt == 1 {
					errs[i] = errors.New("every seventh fails once")
					failedOnce.Add(1)
				}
			}
			return errs
		}}.Handler())
	jobs := make([]queue.NewJob, 500)
	for i := range jobs {
		jobs[i] = queue.NewJob{Name: "ev", Payload: map[string]int{"N": i}}
	}
	ids, err := e.Client.EnqueueBulk(ctx, "jobs", jobs)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, scale(h, 10*time.Second), func() bool { return e.Stats("jobs").Completed == 500 }, "not done: %+v", testenv.Later(func() any { return e.Stats("jobs") }))
	mu.Lock()
	defer mu.Unlock()
	biggest := 0
	for _, s := range sizes {
		biggest = max(biggest, s)
	}
	if biggest < 20 {
		t.Fatalf("batches %v: none above 20 with concurrency 2 (jobs waiting for a batch must hold no slot)", sizes)
	}
	for i, id := range ids {
		want := 1
		if i%7 == 0 {
			want = 2
		}
		if runs[id] != want {
			t.Fatalf("job %d ran %d times, want %d", i, runs[id], want)
		}
	}
	if s := e.Stats("jobs"); s.Failed != 0 || failedOnce.Load() != 72 {
		t.Fatalf("stats %+v, failed once %d", s, failedOnce.Load())
	}
	t.Logf("%d batches, biggest %d", len(sizes), biggest)
	// A lone job runs after MaxWait.
	sizes = sizes[:0]
	mu.Unlock()
	t0 := time.Now()
	if _, err := e.Client.Enqueue(ctx, "jobs", "ev", map[string]int{"N": 1}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.Stats("jobs").Completed == 501 }, "lone job not run")
	if took := time.Since(t0); took < 100*time.Millisecond {
		t.Fatalf("a lone job ran after %s, before MaxWait", took)
	}
	mu.Lock()
}

// testBatchShutdown: a worker stopped while a batch fills runs it at once
// and settles every job before Stop returns (a job claimed but not yet
// handed to the batch goes back to waiting, unrun).
func testBatchShutdown(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	var ran atomic.Int64
	w := e.StartWorker(queue.BatchHandler{Queue: "jobs", MaxSize: 100, MaxWait: time.Minute,
		Handle: func(_ context.Context, jobs []*queue.Job) []error {
			ran.Add(int64(len(jobs)))
			return make([]error, len(jobs))
		}}.Handler())
	for i := 0; i < 10; i++ {
		if _, err := e.Client.Enqueue(ctx, "jobs", "ev", i); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return e.Stats("jobs").Active == 10 }, "batch not filling: %+v", testenv.Later(func() any { return e.Stats("jobs") }))
	stop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Stop(stop); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats("jobs"); s.Completed != ran.Load() || s.Completed+s.Waiting != 10 || s.Active != 0 || ran.Load() == 0 {
		t.Fatalf("after stop: ran %d, stats %+v", ran.Load(), s)
	}
}

// claimSizes wraps a backend's Consumer and records how many jobs each
// Fetch asked for and got.
type claimSizes struct {
	queue.Consumer
	mu         sync.Mutex
	asked, got int
}

func (c *claimSizes) Fetch(ctx context.Context, req queue.FetchRequest) ([]*queue.Job, error) {
	jobs, err := c.Consumer.Fetch(ctx, req)
	c.mu.Lock()
	c.asked, c.got = max(c.asked, req.Max), max(c.got, len(jobs))
	c.mu.Unlock()
	return jobs, err
}

// testBatchClaims: a queue whose handlers all take batches claims more
// jobs at once than its free slots (its jobs wait for their batch without
// one), so a batch fills in a few round trips; a queue with a handler that
// runs jobs one by one never claims past its free slots.
func testBatchClaims(t *testing.T, h Harness) {
	for _, mixed := range []bool{false, true} {
		cfg := Config()
		cfg.Concurrency = 2
		e := NewEnv(t, h, cfg)
		ctx := context.Background()
		handlers := []queue.Handler{queue.BatchHandler{Queue: "jobs", Name: "ev", MaxSize: 200, MaxWait: 20 * time.Millisecond,
			Handle: func(_ context.Context, jobs []*queue.Job) []error { return make([]error, len(jobs)) }}.Handler()}
		if mixed {
			handlers = append(handlers, queue.Handler{Queue: "jobs", Name: "alone",
				Handle: func(context.Context, *queue.Job) error { return nil }})
		}
		jobs := make([]queue.NewJob, 600)
		for i := range jobs {
			jobs[i] = queue.NewJob{Name: "ev", Payload: i}
		}
		if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
			t.Fatal(err)
		}
		spy := &claimSizes{Consumer: e.Backend}
		w, err := queue.NewWorker(cfg, spy, handlers, Logger(), nil)
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = w.Start(sctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, scale(h, 20*time.Second), func() bool { return e.Stats("jobs").Completed == 600 },
			"mixed %v: not done: %+v", mixed, testenv.Later(func() any { return e.Stats("jobs") }))
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = w.Stop(stop)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		spy.mu.Lock()
		asked, got := spy.asked, spy.got
		spy.mu.Unlock()
		switch {
		case mixed && asked > cfg.Concurrency:
			t.Fatalf("a queue with a handler of single jobs asked for %d jobs at once, more than its %d slots", asked, cfg.Concurrency)
		case !mixed && got <= cfg.Concurrency:
			t.Fatalf("a queue of batch handlers got at most %d jobs per claim (asked for %d): no more than its %d slots",
				got, asked, cfg.Concurrency)
		}
		t.Logf("mixed %v: largest claim asked %d, got %d", mixed, asked, got)
	}
}

// testBatchTimeout: a batch handler's Timeout bounds its run. A batch that
// returns no error for its jobs only after its timeout (it honoured its
// cancelled context late, or not at all) fails them with "timeout", and
// they are retried per the handler's policy, a job with a longer timeout
// of its own too; a batch that runs within its timeout completes its jobs
// however long they waited for their batch.
func testBatchTimeout(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string]int{}
	count := func(jobs []*queue.Job) {
		mu.Lock()
		defer mu.Unlock()
		for _, j := range jobs {
			runs[j.ID]++
		}
	}
	e.StartWorker(
		queue.BatchHandler{Queue: "jobs", Name: "late", MaxSize: 3, MaxWait: 20 * time.Millisecond,
			Timeout: 100 * time.Millisecond,
			Retry:   &queue.RetryPolicy{MaxAttempts: 2, Backoff: queue.BackoffFixed, Delay: 10 * time.Millisecond},
			Handle: func(ctx context.Context, jobs []*queue.Job) []error {
				count(jobs)
				<-ctx.Done()
				time.Sleep(20 * time.Millisecond) // winds down, and reports success
				return make([]error, len(jobs))
			}}.Handler(),
		// Its jobs wait 300 ms for their batch, three times its timeout.
		queue.BatchHandler{Queue: "jobs", Name: "patient", MaxSize: 100, MaxWait: 300 * time.Millisecond,
			Timeout: 100 * time.Millisecond, Retry: &queue.RetryPolicy{MaxAttempts: 1},
			Handle: func(_ context.Context, jobs []*queue.Job) []error {
				count(jobs)
				return make([]error, len(jobs))
			}}.Handler())
	var late, patient []string
	for i := range 3 {
		id, err := e.Client.Enqueue(ctx, "jobs", "late", i)
		if err != nil {
			t.Fatal(err)
		}
		late = append(late, id)
		if id, err = e.Client.Enqueue(ctx, "jobs", "patient", i); err != nil {
			t.Fatal(err)
		}
		patient = append(patient, id)
	}
	// A job's own timeout, longer than the batch's, does not save it from
	// the batch's.
	id, err := e.Client.Enqueue(ctx, "jobs", "late", 3, queue.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	late = append(late, id)
	for _, id := range late {
		testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return e.job(id).State == queue.StateFailed },
			"a late batch's job not failed: %+v", testenv.Later(func() any { return e.job(id) }))
		j := e.job(id)
		mu.Lock()
		n := runs[id]
		mu.Unlock()
		if j.Error != "timeout" || j.AttemptsMade() != 2 || n != 2 {
			t.Fatalf("late batch's job %+v after %d runs, want failed with timeout after 2", j, n)
		}
	}
	for _, id := range patient {
		testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
			s := e.job(id).State
			return s == queue.StateCompleted || s == queue.StateFailed
		},
			"a patient job not done: %+v", testenv.Later(func() any { return e.job(id) }))
		if j := e.job(id); j.State != queue.StateCompleted {
			t.Fatalf("a job whose batch ran within its timeout: %+v", j)
		}
	}
}
