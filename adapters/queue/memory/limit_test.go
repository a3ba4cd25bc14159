package memory

import (
	"context"
	"errors"
	"testing"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
)

// At 100/1h a slot comes every 36 s with a burst of 10: ten jobs start at
// once and the eleventh, asked for a fraction of a slot early, waits (the
// allowance rounds down, also when it is negative).
func TestLimitBurstRoundsDown(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	cfg.Limits = []string{"jobs=100/1h"}
	b, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c, err := queue.NewClient(cfg, b, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jobs := make([]queue.NewJob, 20)
	for i := range jobs {
		jobs[i] = queue.NewJob{Name: "j", Payload: i}
	}
	if _, err := c.EnqueueBulk(ctx, "jobs", jobs); err != nil {
		t.Fatal(err)
	}
	started := 0
	for range 3 {
		got, err := b.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "t", Max: 20})
		var held *queue.HeldError
		if err != nil && !errors.As(err, &held) {
			t.Fatal(err)
		}
		started += len(got)
	}
	if started != 10 {
		t.Fatalf("%d jobs started at 100/1h, want the burst of 10", started)
	}
}
