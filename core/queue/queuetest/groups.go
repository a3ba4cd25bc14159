package queuetest

import (
	"context"
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

// testGroups: group B's 10 jobs, enqueued behind group A's 10,000, all
// finish within 100 ms of their enqueue (round-robin); a group never runs
// more than queue.group_concurrency jobs at once; a grouped job's
// RateLimited holds its group only.
func testGroups(t *testing.T, h Harness) {
	cfg := Config()
	cfg.GroupConcurrency = 3
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	var mu sync.Mutex
	doneAt := map[string]time.Time{}
	running := map[string]int{}
	maxRunning := map[string]int{}
	var limitedAt atomic.Int64
	var cRunsAfterLimit atomic.Int64
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		mu.Lock()
		running[j.Group]++
		maxRunning[j.Group] = max(maxRunning[j.Group], running[j.Group])
		mu.Unlock()
		defer func() {
			mu.Lock()
			running[j.Group]--
			doneAt[j.ID] = time.Now()
			mu.Unlock()
		}()
		switch j.Name {
		case "a":
			time.Sleep(time.Millisecond) // the work: A's backlog takes a while
		case "limited":
			if j.Attempt == 1 && limitedAt.Load() == 0 {
				limitedAt.Store(time.Now().UnixNano())
				return queue.RateLimited(300 * time.Millisecond)
			}
		case "c":
			if at := limitedAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < 300*time.Millisecond {
				cRunsAfterLimit.Add(1)
			}
		}
		return nil
	}})
	const backlog = 10000
	for i := 0; i < backlog; i += 1000 {
		jobs := make([]queue.NewJob, 1000)
		for k := range jobs {
			jobs[k] = queue.NewJob{Name: "a", Payload: i + k, Options: []queue.Option{queue.WithGroup("A")}}
		}
		if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
			t.Fatal(err)
		}
	}
	enq := map[string]time.Time{}
	for i := 0; i < 10; i++ {
		id, err := e.Client.Enqueue(ctx, "jobs", "b", i, queue.WithGroup("B"))
		if err != nil {
			t.Fatal(err)
		}
		enq[id] = time.Now()
	}
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range enq {
			if _, ok := doneAt[id]; !ok {
				return false
			}
		}
		return true
	}, "group B's jobs did not finish")
	mu.Lock()
	var worst time.Duration
	for id, at := range enq {
		worst = max(worst, doneAt[id].Sub(at))
	}
	aDone := 0
	for id := range doneAt {
		if _, isB := enq[id]; !isB {
			aDone++
		}
	}
	mu.Unlock()
	t.Logf("group B's 10 jobs behind A's %d: slowest finished %s after its enqueue (A had done %d)", backlog, worst, aDone)
	if worst > 100*time.Millisecond+lateness(h) {
		t.Fatalf("group B waited %s behind group A's backlog", worst)
	}
	// A grouped job's RateLimited holds its group, not the others.
	limited, err := e.Client.Enqueue(ctx, "jobs", "limited", nil, queue.WithGroup("C"))
	if err != nil {
		t.Fatal(err)
	}
	// The hold starts when the outcome is stored, a little after the
	// handler returned: group C's next jobs come once it is.
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
		j, err := e.Admin.Job(ctx, "jobs", limited)
		return limitedAt.Load() != 0 && err == nil && j.State == queue.StateDelayed
	}, "not limited")
	later := []string{limited}
	for i := 0; i < 5; i++ {
		for _, g := range []string{"C", "D"} {
			id, err := e.Client.Enqueue(ctx, "jobs", strings.ToLower(g), i, queue.WithGroup(g))
			if err != nil {
				t.Fatal(err)
			}
			later = append(later, id)
		}
	}
	// Groups C and D finish beside A's backlog (which need not: draining
	// it proves nothing more, and takes long on a loaded machine).
	testenv.Eventually(t, scale(h, 10*time.Second), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range later {
			if _, ok := doneAt[id]; !ok {
				return false
			}
		}
		return true
	}, "the jobs of groups C and D did not finish")
	if n := cRunsAfterLimit.Load(); n != 0 {
		t.Fatalf("group C ran %d jobs while held by RateLimited", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxRunning["A"] > cfg.GroupConcurrency {
		t.Fatalf("group A ran %d jobs at once, group_concurrency is %d", maxRunning["A"], cfg.GroupConcurrency)
	}
}

// testGroupWake: a Wait after a claim that came up short ends as soon as a
// settlement frees a group's slot for its next job (the Consumer contract:
// no missed wake-up), not when Wait's own timeout passes.
func testGroupWake(t *testing.T, h Harness) {
	cfg := Config()
	cfg.GroupConcurrency = 1
	e := NewEnv(t, h, cfg)
	ctx := context.Background()
	for i := range 2 {
		if _, err := e.Client.Enqueue(ctx, "jobs", "g", i, queue.WithGroup("A")); err != nil {
			t.Fatal(err)
		}
	}
	var first []*queue.Job
	testenv.Eventually(t, scale(h, 5*time.Second), func() bool {
		jobs, err := e.Backend.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c1", Max: 5})
		if err != nil {
			var held *queue.HeldError
			if !errors.As(err, &held) {
				t.Fatal(err)
			}
		}
		first = append(first, jobs...)
		return len(first) > 0
	}, "the first grouped job was never claimed")
	if len(first) != 1 {
		t.Fatalf("claimed %d jobs of a group with group_concurrency 1", len(first))
	}
	// Settle without claiming, as an idle worker does; the group's next
	// job is now due.
	done := queue.Settlement{Job: first[0], Outcome: queue.Completed, At: time.Now()}
	if _, err := e.Backend.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c1", Settle: []queue.Settlement{done}}); err != nil {
		t.Fatal(err)
	}
	returned := make(chan error, 1)
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { returned <- e.Backend.Wait(waitCtx, "jobs", time.Minute) }()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(scale(h, 5*time.Second)):
		t.Fatal("Wait did not end although the group's next job is due")
	}
}

// testGroupNewcomer: a group that gets a job while other groups wait is
// served at the next claim, before any waiting group gets another turn
// (the least recently served first: a group that had nothing waiting has
// been served less recently than every group that did), and two such
// groups are served in the order they came. So a small group waits for a
// free slot, not for a turn of every busy group.
func testGroupNewcomer(t *testing.T, h Harness) {
	e := NewEnv(t, h, Config())
	ctx := context.Background()
	const busy = 20
	for g := range busy {
		jobs := make([]queue.NewJob, 5)
		for i := range jobs {
			jobs[i] = queue.NewJob{Name: "busy", Payload: i, Options: []queue.Option{queue.WithGroup(fmt.Sprintf("busy%d", g))}}
		}
		if _, err := e.Client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
			t.Fatal(err)
		}
	}
	// claim takes one job and settles it at the next call, as a worker
	// with one slot does. A claim may come back empty while another
	// transaction holds the rows for a moment (PostgreSQL skips locked
	// rows; the backend's own maintenance runs beside the test), so it
	// asks again, without the settlement the first call made.
	var last *queue.Job
	claim := func() *queue.Job {
		t.Helper()
		req := queue.FetchRequest{Queue: "jobs", Consumer: "c1", Max: 1}
		if last != nil {
			req.Settle = []queue.Settlement{{Job: last, Outcome: queue.Completed, At: time.Now()}}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			jobs, err := e.Backend.Fetch(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) > 1 {
				t.Fatalf("claimed %d jobs, want 1", len(jobs))
			}
			if len(jobs) == 1 {
				last = jobs[0]
				return last
			}
			if time.Now().After(deadline) {
				t.Fatal("claimed no job for 5 s with jobs waiting")
			}
			req.Settle = nil
		}
	}
	// A few turns in: every busy group has been served.
	for range busy + 3 {
		if j := claim(); j.Name != "busy" {
			t.Fatalf("claimed %s", j.Name)
		}
	}
	for _, g := range []string{"first", "second"} {
		if _, err := e.Client.Enqueue(ctx, "jobs", g, nil, queue.WithGroup(g)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"first", "second"} {
		if j := claim(); j.Name != want {
			t.Fatalf("claimed a job of group %s (%s); want the new group %s's job, ahead of the %d busy groups", j.Group, j.Name, want, busy)
		}
	}
	// Served once, a group goes back to the end of the round: its next job
	// waits for every busy group's turn.
	if _, err := e.Client.Enqueue(ctx, "jobs", "first", nil, queue.WithGroup("first")); err != nil {
		t.Fatal(err)
	}
	for i := range busy {
		if j := claim(); j.Name != "busy" {
			t.Fatalf("claim %d after the new groups: %s of group %s ran before every busy group had its turn", i, j.Name, j.Group)
		}
	}
	if j := claim(); j.Name != "first" {
		t.Fatalf("after a turn of the busy groups: claimed %s of %s, want first", j.Name, j.Group)
	}
}
