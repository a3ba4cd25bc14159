package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// A group held by RateLimited neither stops the claims of the other
// groups nor makes Fetch return a HeldError; once only held and full
// groups have due jobs, Wait ends when the hold does, not after its own d.
func TestHeldGroupWait(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.GroupConcurrency = 1
	b, client := openClient(t, cfg)
	ctx := context.Background()
	enqueue := func(grp string, n int) {
		for i := range n {
			if _, err := client.Enqueue(ctx, "jobs", grp, i, queue.WithGroup(grp)); err != nil {
				t.Fatal(err)
			}
		}
	}
	fetch := func(settle ...queue.Settlement) map[string]*queue.Job {
		jobs, err := b.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c", Settle: settle, Max: 5})
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		got := map[string]*queue.Job{}
		for _, j := range jobs {
			if got[j.Group] != nil {
				t.Fatalf("two jobs of group %s at group_concurrency 1", j.Group)
			}
			got[j.Group] = j
		}
		return got
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.listening
	}, "listener not up")
	enqueue("A", 2)
	enqueue("C", 2)
	first := fetch()
	if first["A"] == nil || first["C"] == nil {
		t.Fatalf("first claim: %v", first)
	}
	hold := 500 * time.Millisecond
	postponed := queue.Settlement{Job: first["C"], Outcome: queue.Postponed, At: time.Now().Add(hold)}
	if got := fetch(postponed); len(got) != 0 { // A is full, C held
		t.Fatalf("claimed %v", got)
	}
	enqueue("D", 1)
	if got := fetch(); len(got) != 1 || got["D"] == nil {
		t.Fatalf("with C held, the claim took %v, want D's job", got)
	}
	if got := fetch(); len(got) != 0 {
		t.Fatalf("claimed %v", got)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if err := b.Wait(waitCtx, "jobs", 10*time.Second); err != nil {
			t.Fatalf("Wait did not end when group C's hold did: %v", err)
		}
		if got := fetch(); got["C"] != nil {
			break
		} else if len(got) != 0 {
			t.Fatalf("claimed %v", got)
		}
	}
	if time.Now().Before(postponed.At) {
		t.Fatal("group C's job was claimed before its hold ended")
	}
}
