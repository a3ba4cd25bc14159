package cache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
)

func TestWarmBoundedConcurrencyAndCounts(t *testing.T) {
	t.Parallel()
	keys := make([]int, 200)
	for i := range keys {
		keys[i] = i
	}
	var inFlight, peak atomic.Int64
	w := cache.Warm(context.Background(), nil, keys, 3, time.Hour, func(_ context.Context, k int) error {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(100 * time.Microsecond) // some work, so loads overlap
		inFlight.Add(-1)
		if k%10 == 0 {
			return errors.New("not found")
		}
		return nil
	})
	<-w.Done()
	if p := peak.Load(); p > 3 || p < 1 {
		t.Fatalf("peak concurrency %d, want 1..3", p)
	}
	loaded, failed, total := w.Progress()
	if loaded != 180 || failed != 20 || total != 200 {
		t.Fatalf("progress %d/%d/%d", loaded, failed, total)
	}
	if !w.Ready() {
		t.Fatal("not ready after warming ended")
	}
}

func TestWarmReadinessBudget(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	w := cache.Warm(context.Background(), nil, []int{1, 2}, 1, 50*time.Millisecond, func(ctx context.Context, _ int) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	defer w.Stop()
	defer close(release)
	if w.Ready() {
		t.Fatal("ready before warming ended and before the budget")
	}
	start := time.Now()
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Wait took %s with a 50ms budget", el)
	}
	if !w.Ready() {
		t.Fatal("not ready after the budget elapsed")
	}
	select {
	case <-w.Done():
		t.Fatal("warming ended although its loads are blocked")
	default:
	}
}

func TestWarmStopCancels(t *testing.T) {
	t.Parallel()
	keys := make([]int, 1000)
	var calls atomic.Int64
	w := cache.Warm(context.Background(), nil, keys, 2, time.Hour, func(ctx context.Context, _ int) error {
		calls.Add(1)
		<-ctx.Done()
		return ctx.Err()
	})
	w.Stop()
	if n := calls.Load(); n > 2 {
		t.Fatalf("%d loads started after Stop, want at most the 2 in flight", n)
	}
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
