package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
)

// The full claim (sql/claim.sql, here for a queue with groups) takes high
// jobs, then the round-robin of normal ones, then low ones, each class in
// enqueue order: when the claim has room for only some of the low jobs it
// takes the oldest.
func TestClaimTakesOldestOfEachClass(t *testing.T) {
	t.Parallel()
	cfg := queuetest.Config()
	b, client := openClient(t, cfg)
	ctx := context.Background()
	names := map[string]string{}
	enqueue := func(n string, opts ...queue.Option) {
		id, err := client.Enqueue(ctx, "jobs", n, 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		names[id] = n
	}
	for i := range 400 {
		enqueue(fmt.Sprintf("L%03d", i), queue.WithPriority(queue.PriorityLow))
	}
	for i := range 3 {
		enqueue(fmt.Sprintf("H%d", i), queue.WithPriority(queue.PriorityHigh))
	}
	enqueue("G", queue.WithGroup("g"))
	jobs, err := b.Fetch(ctx, queue.FetchRequest{Queue: "jobs", Consumer: "c", Max: 204})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, names[j.ID])
	}
	want := []string{"H0", "H1", "H2", "G"}
	for i := range 200 {
		want = append(want, fmt.Sprintf("L%03d", i))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %v\nwant %v", got, want)
	}
}
