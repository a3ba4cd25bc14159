package queuetest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/internal/testenv"
)

// runBackground runs the backend's background work for the test, as a
// worker process would.
func (e *Env) runBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if m, ok := e.Backend.(queue.Maintainer); ok {
			_ = m.Run(ctx)
		}
	}()
	e.T.Cleanup(func() { cancel(); <-done })
}

func (e *Env) job(id string) *queue.Job {
	e.T.Helper()
	j, err := e.Admin.Job(context.Background(), "jobs", id)
	if err != nil {
		e.T.Fatalf("job %s: %v", id, err)
	}
	return j
}

// testStalled: a delivery whose worker vanishes (no heartbeat, no settle)
// is taken back as an attempt; past max_stalled it is dead with
// "stalled"; a settlement of a delivery that was taken back changes
// nothing.
func testStalled(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	e.runBackground()
	ctx := context.Background()
	id, err := e.Client.Enqueue(ctx, "jobs", "crashes", nil)
	if err != nil {
		t.Fatal(err)
	}
	claim := func() *queue.Job {
		t.Helper()
		var got []*queue.Job
		testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
			got, err = e.Backend.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "vanishing-worker", Max: 1})
			return err == nil && len(got) == 1
		}, "no job to claim (err %v)", err)
		return got[0]
	}
	first := claim()
	if first.ID != id || first.Attempt != 1 || first.Delivery == "" {
		t.Fatalf("claimed %+v", first)
	}
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
		j := e.job(id)
		return j.State == queue.StateWaiting && j.Attempt == 2 && j.Stalls == 1
	}, "stalled delivery not taken back: %+v", e.job(id))
	// The vanished worker comes back and settles its old delivery: ignored.
	if _, err := e.Backend.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "vanishing-worker",
		Settle: []queue.Settlement{{Job: first, Outcome: queue.Completed, At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if j := e.job(id); j.State != queue.StateWaiting || e.Stats("jobs").Completed != 0 {
		t.Fatalf("a stale settlement changed the job: %+v", j)
	}
	second := claim()
	if second.Attempt != 2 || second.Delivery == first.Delivery {
		t.Fatalf("second delivery %+v", second)
	}
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return e.job(id).State == queue.StateFailed },
		"job not dead after %d stalls: %+v", e.Cfg.MaxStalled+1, e.job(id))
	j := e.job(id)
	if j.Error != "stalled" || j.Stalls != 2 || j.AttemptsMade() != 2 {
		t.Fatalf("dead job %+v", j)
	}
	if s := e.Stats("jobs"); s.Failed != 1 || s.Active != 0 || s.Waiting != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// testPriorityAcrossWorkers: two workers at concurrency 1, one busy with a
// long job: a high-priority job starts on the idle one at once, never
// behind the busy worker's job.
func testPriorityAcrossWorkers(t *testing.T, h Harness) {
	cfg := Config()
	cfg.Concurrency = 1
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan time.Time, 1)
	var longRunning atomic.Int64
	handler := queue.Handler{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		switch j.Name {
		case "long":
			longRunning.Add(1)
			defer longRunning.Add(-1)
			select {
			case <-release:
			case <-ctx.Done():
			}
		case "high":
			started <- time.Now()
		}
		return nil
	}}
	e.StartWorker(handler)
	e.StartWorker(handler)
	var lat []time.Duration
	for round := 0; round < 10; round++ {
		if _, err := e.Client.Enqueue(ctx, "jobs", "long", round); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return longRunning.Load() == 1 }, "long job not started")
		t0 := time.Now()
		if _, err := e.Client.Enqueue(ctx, "jobs", "high", round, queue.WithPriority(queue.PriorityHigh)); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-started:
			lat = append(lat, at.Sub(t0))
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: high job did not start while a worker was idle", round)
		}
		release <- struct{}{}
		testenv.Eventually(t, scale(h, 5*time.Second), func() bool { return longRunning.Load() == 0 }, "long job not done")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("high job start after enqueue, 10 rounds: median %s, max %s", lat[4], lat[9])
	if bound := lateness(h) / 2; lat[9] > bound {
		t.Fatalf("a high job started %s after enqueue with a worker idle (bound %s)", lat[9], bound)
	}
}

// testReleasedOnShutdown: a job cut short by the shutdown timeout goes
// back to waiting; the attempt is not counted.
func testReleasedOnShutdown(t *testing.T, h Harness) {
	cfg := Config()
	cfg.ShutdownTimeout = 200 * time.Millisecond
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	var runs atomic.Int64
	w := e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		if runs.Add(1) == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}})
	id, err := e.Client.Enqueue(ctx, "jobs", "long", nil)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return runs.Load() == 1 }, "not started")
	stop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Stop(stop); err != nil {
		t.Fatal(err)
	}
	if j := e.job(id); j.State != queue.StateWaiting || j.Attempt != 1 || j.Stalls != 0 {
		t.Fatalf("after shutdown: %+v, want waiting at attempt 1", j)
	}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(ctx context.Context, j *queue.Job) error {
		runs.Add(1)
		return nil
	}})
	testenv.Eventually(t, scale(h, 3*time.Second), func() bool { return e.job(id).State == queue.StateCompleted }, "not run after restart")
	if j := e.job(id); j.AttemptsMade() != 1 {
		t.Fatalf("released attempt counted: %+v", j)
	}
}

// testPaging: cursor paging lists every job of a state once, newest first.
func testPaging(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	if err := e.Admin.Pause(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < 25; i++ {
		id, err := e.Client.Enqueue(ctx, "jobs", "x", i, queue.WithPriority(queue.Priorities[i%3]))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	for _, state := range []queue.State{queue.StateWaiting, queue.StateCancelled} {
		seen := map[string]bool{}
		cursor := ""
		var prev time.Time
		for pages := 0; ; pages++ {
			p, err := e.Admin.Jobs(ctx, "jobs", queue.JobQuery{State: state, Limit: 7, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range p.Jobs {
				if seen[j.ID] || !want[j.ID] || j.State != state {
					t.Fatalf("%s page %d: job %+v (seen %v)", state, pages, j, seen[j.ID])
				}
				seen[j.ID] = true
				at := j.RunAt
				if state == queue.StateCancelled {
					at = j.FinishedAt
				}
				// Newest first, to the millisecond: jobs of different
				// priorities that arrived in the same millisecond may
				// come in either order.
				if !prev.IsZero() && at.Sub(prev) > 2*time.Millisecond {
					t.Fatalf("%s: not newest first (%s after %s)", state, at, prev)
				}
				prev = at
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
			if pages > 10 {
				t.Fatal("paging does not end")
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("%s: paged %d of %d jobs", state, len(seen), len(want))
		}
		if state == queue.StateWaiting {
			n, err := e.Backend.Act(ctx, "jobs", queue.Target{State: queue.StateCompleted}, queue.ActRemove)
			if err != nil || n != 0 {
				t.Fatalf("remove completed: %d %v", n, err)
			}
			for id := range want {
				if err := e.Admin.Act(ctx, "jobs", id, queue.ActCancel); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := e.Admin.Jobs(ctx, "jobs", queue.JobQuery{State: queue.StateWaiting, Limit: 5, Cursor: "garbage"}); !errors.Is(err, queue.ErrBadQuery) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// DropCounter is an Observer that counts retention drops.
type DropCounter struct {
	mu    sync.Mutex
	Count map[string]int // by reason
}

// DeadDropped implements queue.Observer.
func (d *DropCounter) DeadDropped(_ string, n int, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Count == nil {
		d.Count = map[string]int{}
	}
	d.Count[reason] += n
}

// Get returns the count for a reason.
func (d *DropCounter) Get(reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Count[reason]
}

// DeadLetterRetention runs the dead-letter retention check on a backend
// opened with obs and retention.failed = 3: five dead jobs leave three
// kept and two drops counted by count; expire, run with the clock past
// retention.failed_age, drops the rest and counts them by age.
func DeadLetterRetention(t *testing.T, e *Env, obs *DropCounter, expire func()) {
	t.Helper()
	ctx := context.Background()
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(context.Context, *queue.Job) error {
		return queue.Permanent(errors.New("bad"))
	}})
	for i := 0; i < 5; i++ {
		if _, err := e.Client.Enqueue(ctx, "jobs", "x", i); err != nil {
			t.Fatal(err)
		}
	}
	// The backend reports a drop once the settle that made it has
	// returned, which may be after the stored count shows the fifth death.
	testenv.Eventually(t, 5*time.Second, func() bool { return e.Stats("jobs").Failed == 5 && obs.Get("count") >= 2 },
		"jobs not dead, or their drops not reported")
	page, err := e.Admin.Jobs(ctx, "jobs", queue.JobQuery{State: queue.StateFailed, Limit: 10})
	if err != nil || len(page.Jobs) != 3 || obs.Get("count") != 2 {
		t.Fatalf("kept %d dead jobs (%v), drops by count %d; want 3 and 2", len(page.Jobs), err, obs.Get("count"))
	}
	expire()
	page, err = e.Admin.Jobs(ctx, "jobs", queue.JobQuery{State: queue.StateFailed, Limit: 10})
	if err != nil || len(page.Jobs) != 0 || obs.Get("age") != 3 {
		t.Fatalf("after failed_age: kept %d (%v), drops by age %d; want 0 and 3", len(page.Jobs), err, obs.Get("age"))
	}
	if s := e.Stats("jobs"); s.Failed != 5 {
		t.Fatalf("the failed total must survive retention: %+v", s)
	}
}
