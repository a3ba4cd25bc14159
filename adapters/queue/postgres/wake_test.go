package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// Wait misses no wake-up: a job enqueued (by another process) after a
// Fetch came up short ends Wait at once, whether its notification arrives
// before Wait starts or while it waits.
func TestWaitMissesNoWakeUp(t *testing.T) {
	t.Parallel()
	dsn := openDSN(t)
	cfg := queuetest.Config()
	consumer := openBackend(t, openPool(t, dsn), cfg, nil)
	producer := openBackend(t, openPool(t, dsn), cfg, nil)
	client, err := queue.NewClient(cfg, producer, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testenv.Eventually(t, 5*time.Second, func() bool {
		consumer.mu.Lock()
		defer consumer.mu.Unlock()
		return consumer.listening
	}, "listener not up")
	for i, before := range []bool{true, false, true, false} {
		jobs, err := consumer.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c", Max: 1})
		if err != nil || len(jobs) != 0 {
			t.Fatalf("round %d: fetch %v %v", i, jobs, err)
		}
		enqueue := func() {
			if _, err := client.Enqueue(ctx, "jobs", "x", i); err != nil {
				t.Error(err)
			}
		}
		if before {
			enqueue()
			time.Sleep(50 * time.Millisecond) // the notification arrives before Wait starts
		} else {
			time.AfterFunc(50*time.Millisecond, enqueue)
		}
		t0 := time.Now()
		if err := consumer.Wait(ctx, "jobs", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("round %d: Wait took %s after a job was enqueued", i, d)
		}
		jobs, err = consumer.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c", Max: 1})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("round %d: the woken fetch got %v %v", i, jobs, err)
		}
		if _, err := consumer.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c",
			Settle: []queue.Settlement{{Job: jobs[0], Outcome: queue.Completed, At: time.Now()}}}); err != nil {
			t.Fatal(err)
		}
	}
}
