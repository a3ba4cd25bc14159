package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
)

// queue.group_limit spaces each group's starts (the suite tests the queue
// limit, not the group limit): 10/s per group, two groups, for a second.
func TestGroupLimit(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.GroupLimit = "5/500ms"
	b := openBackend(t, openDB(t), cfg, nil)
	client, err := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, g := range []string{"x", "y"} {
		jobs := make([]queue.NewJob, 40)
		for i := range jobs {
			jobs[i] = queue.NewJob{Name: "n", Payload: i, Options: []queue.Option{queue.WithGroup(g)}}
		}
		if _, err := client.EnqueueBulk(ctx, "jobs", jobs); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	starts := map[string][]time.Time{}
	e := &queuetest.Env{T: t, Cfg: cfg, Backend: b}
	e.StartWorker(queue.Handler{Queue: "jobs", Handle: func(_ context.Context, j *queue.Job) error {
		mu.Lock()
		starts[j.Group] = append(starts[j.Group], time.Now())
		mu.Unlock()
		return nil
	}})
	time.Sleep(2 * time.Second) // the measurement window itself
	mu.Lock()
	defer mu.Unlock()
	for _, g := range []string{"x", "y"} {
		s := starts[g]
		if len(s) == 0 {
			t.Fatalf("group %s never ran", g)
		}
		n := 0
		for _, at := range s {
			if at.Sub(s[0]) < time.Second {
				n++
			}
		}
		// 10 per second, one start every 100 ms; a loaded machine starts
		// late, never early.
		if n > 11 || n < 5 {
			t.Fatalf("group %s: %d starts in its first second, want about 10", g, n)
		}
	}
}
