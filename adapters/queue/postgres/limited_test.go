package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// A limited queue's claims keep its rules: priorities, pause, a
// RateLimited hold, and the limit itself. At 100/1h a slot comes every
// 36 s with a burst of 10, so within the test's few seconds exactly 10
// jobs start; an 11th, a fraction of a slot early, waits.
func TestLimitedFetch(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.Limits = []string{"jobs=100/1h"}
	b, client := openClient(t, cfg)
	admin := queue.NewAdmin(cfg, b)
	ctx := context.Background()
	names := map[string]string{} // job ID → name
	enqueue := func(p queue.Priority, ns ...string) {
		for _, n := range ns {
			id, err := client.Enqueue(ctx, "jobs", n, 0, queue.WithPriority(p))
			if err != nil {
				t.Fatal(err)
			}
			names[id] = n
		}
	}
	fetch := func(max int, settle []*queue.Job, outcome queue.Outcome, at time.Time) ([]*queue.Job, []string, error) {
		t.Helper()
		var sts []queue.Settlement
		for _, j := range settle {
			sts = append(sts, queue.Settlement{Job: j, Outcome: outcome, At: at})
		}
		jobs, err := b.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c", Settle: sts, Max: max})
		got := []string{}
		for _, j := range jobs {
			got = append(got, names[j.ID])
		}
		return jobs, got, err
	}
	held := func(err error) *queue.HeldError {
		var h *queue.HeldError
		errors.As(err, &h)
		return h
	}
	state := func(j *queue.Job) queue.State {
		t.Helper()
		got, err := admin.Job(ctx, "jobs", j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.listening
	}, "listener not up")

	enqueue(queue.PriorityLow, "L1", "L2")
	enqueue(queue.PriorityNormal, "N1", "N2")
	enqueue(queue.PriorityHigh, "H1", "H2")
	first, got, err := fetch(3, nil, queue.Completed, time.Time{})
	if err != nil || !slices.Equal(got, []string{"H1", "H2", "N1"}) {
		t.Fatalf("first claim: %v, %v; want H1 H2 N1", got, err)
	}
	second, got, err := fetch(2, first, queue.Completed, time.Now())
	if err != nil || !slices.Equal(got, []string{"N2", "L1"}) {
		t.Fatalf("second claim: %v, %v; want N2 L1", got, err)
	}
	if s := state(first[0]); s != queue.StateCompleted {
		t.Fatalf("a settled job is %s", s)
	}

	// Paused: nothing starts, the settlement holds.
	if err := admin.Pause(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	if _, got, err := fetch(2, second[:1], queue.Completed, time.Now()); !errors.Is(err, queue.ErrPaused) || len(got) != 0 {
		t.Fatalf("paused queue: %v, %v", got, err)
	}
	if s := state(second[0]); s != queue.StateCompleted {
		t.Fatalf("a job settled while paused is %s", s)
	}
	if err := admin.Resume(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}

	// Held by RateLimited: nothing starts until the hold ends.
	until := time.Now().Add(300 * time.Millisecond)
	if _, got, err := fetch(2, second[1:], queue.Postponed, until); held(err) == nil || len(got) != 0 {
		t.Fatalf("postponing: %v, %v; want a hold", got, err)
	}
	enqueue(queue.PriorityNormal, "N3")
	if _, got, err := fetch(5, nil, queue.Completed, time.Time{}); held(err) == nil || len(got) != 0 {
		t.Fatalf("held queue: %v, %v; want a hold", got, err)
	}
	var third []*queue.Job
	testenv.Eventually(t, 5*time.Second, func() bool {
		jobs, got, err := fetch(5, nil, queue.Completed, time.Time{})
		if held(err) != nil && len(got) == 0 {
			return false
		}
		if err != nil || !slices.Equal(got, []string{"N3", "L2", "L1"}) {
			t.Fatalf("claim after the hold: %v, %v; want N3 L2 L1", got, err)
		}
		third = jobs
		return true
	}, "the hold did not end")
	if time.Now().Before(until) {
		t.Fatal("a job started before the hold ended")
	}

	// The limit: 8 started, 2 left of the burst, then a slot every 36 s.
	enqueue(queue.PriorityNormal, "N4", "N5", "N6", "N7", "N8")
	_, got, err = fetch(5, third, queue.Completed, time.Now())
	if h := held(err); h == nil || !slices.Equal(got, []string{"N4", "N5"}) || time.Until(h.Until) < 30*time.Second {
		t.Fatalf("at the limit: %v, %v; want N4 N5 and a hold of about 36 s", got, err)
	}
	if _, got, err := fetch(5, nil, queue.Completed, time.Time{}); held(err) == nil || len(got) != 0 {
		t.Fatalf("past the burst: %v, %v; want a hold and no job", got, err)
	}
}

// A limited queue that gets groups claims through the full claim (its
// round-robin) from the first Fetch that finds them.
func TestLimitedFetchGroups(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.Limits = []string{"jobs=100/1h"}
	b, client := openClient(t, cfg)
	ctx := context.Background()
	testenv.Eventually(t, 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.listening
	}, "listener not up")
	fetch := func(settle []*queue.Job) []*queue.Job {
		t.Helper()
		var sts []queue.Settlement
		for _, j := range settle {
			sts = append(sts, queue.Settlement{Job: j, Outcome: queue.Completed, At: time.Now()})
		}
		jobs, err := b.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c", Settle: sts, Max: 5})
		if err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	if _, err := client.Enqueue(ctx, "jobs", "u1", 0); err != nil {
		t.Fatal(err)
	}
	grouped := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.wake["jobs"].grouped
	}
	first := fetch(nil)
	if len(first) != 1 || grouped() {
		t.Fatalf("first claim: %d jobs, grouped %v", len(first), grouped())
	}
	for _, g := range []string{"A", "A", "B"} {
		if _, err := client.Enqueue(ctx, "jobs", g, 0, queue.WithGroup(g)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(ctx, "jobs", "u2", 0); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, j := range fetch(first) {
		got[j.Name]++
	}
	// One job per member per round: u2, A and B, then A's second.
	if got["u2"] != 1 || got["A"] != 2 || got["B"] != 1 {
		t.Fatalf("claimed %v, want u2, A twice and B", got)
	}
	if !grouped() {
		t.Fatal("the queue's groups went unnoticed")
	}
}
