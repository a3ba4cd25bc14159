package cache_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/internal/testenv"
)

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	var mu sync.Mutex
	var changes []string
	b := cache.NewBreakerStore(s, cache.BreakerConfig{Failures: 3, OpenFor: 50 * time.Millisecond}, func(from, to cache.BreakerState) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, from.String()+">"+to.String())
	})
	ctx := context.Background()
	s.down.Store(true)
	for range 3 {
		if _, err := b.Get(ctx, "k"); !errors.Is(err, errDown) {
			t.Fatalf("err = %v, want the store's", err)
		}
	}
	if b.State() != cache.BreakerOpen {
		t.Fatalf("state %s after 3 failures", b.State())
	}
	before := s.gets.Load()
	for range 100 {
		if _, err := b.Get(ctx, "k"); !errors.Is(err, cache.ErrBreakerOpen) {
			t.Fatalf("err = %v, want ErrBreakerOpen", err)
		}
	}
	if s.gets.Load() != before {
		t.Fatal("open breaker let calls through")
	}
	if err := b.Ping(ctx); !errors.Is(err, errDown) {
		t.Fatalf("Ping = %v; must reach the store whatever the breaker's state", err)
	}
	pings := s.pings.Load()
	// Failed probe (a background Ping): open again. Callers never reach
	// the store while it is believed down.
	testenv.Eventually(t, 2*time.Second, func() bool {
		if _, err := b.Get(ctx, "k"); !errors.Is(err, cache.ErrBreakerOpen) {
			t.Fatalf("err = %v while not closed, want ErrBreakerOpen", err)
		}
		return s.pings.Load() > pings && b.State() == cache.BreakerOpen
	}, "no probe after OpenFor")
	if s.gets.Load() != before {
		t.Fatal("a caller reached the store while the circuit was not closed")
	}
	s.down.Store(false)
	testenv.Eventually(t, 2*time.Second, func() bool {
		_, err := b.Get(ctx, "k")
		return errors.Is(err, cache.ErrMiss)
	}, "breaker did not close")
	if b.State() != cache.BreakerClosed {
		t.Fatalf("state %s", b.State())
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes %v, want %v", changes, want)
		}
	}
}

func TestBreakerMissIsSuccessAndSuccessResetsCount(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	b := cache.NewBreakerStore(s, cache.BreakerConfig{Failures: 2, OpenFor: time.Hour}, nil)
	ctx := context.Background()
	for range 5 {
		s.down.Store(true)
		_, _ = b.Get(ctx, "k")
		s.down.Store(false)
		if _, err := b.Get(ctx, "k"); !errors.Is(err, cache.ErrMiss) {
			t.Fatal(err)
		}
	}
	if b.State() != cache.BreakerClosed {
		t.Fatalf("non-consecutive failures opened the breaker")
	}
}

func TestBreakerIgnoresCallerCancellation(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	s.down.Store(true)
	b := cache.NewBreakerStore(s, cache.BreakerConfig{Failures: 1, OpenFor: time.Hour}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		_, _ = b.Get(ctx, "k")
	}
	if b.State() != cache.BreakerClosed {
		t.Fatal("failures of cancelled calls opened the breaker")
	}
}

func TestBreakerOneProbeAtATime(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	b := cache.NewBreakerStore(s, cache.BreakerConfig{Failures: 1, OpenFor: time.Millisecond}, nil)
	ctx := context.Background()
	s.down.Store(true)
	_, _ = b.Get(ctx, "k")
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.pingHook = func() {
		once.Do(func() { close(entered) })
		<-release
	}
	s.down.Store(false)
	// The first call after OpenFor starts the probe, which blocks in Ping.
	testenv.Eventually(t, 2*time.Second, func() bool {
		_, _ = b.Get(ctx, "k")
		select {
		case <-entered:
			return true
		default:
			return false
		}
	}, "no probe started")
	if b.State() != cache.BreakerHalfOpen {
		t.Fatalf("state %s during the probe", b.State())
	}
	for range 50 {
		if _, err := b.Get(ctx, "k"); !errors.Is(err, cache.ErrBreakerOpen) {
			t.Fatalf("a call during the probe got %v, want ErrBreakerOpen", err)
		}
	}
	if n := s.pings.Load(); n != 1 {
		t.Fatalf("%d probes in flight, want 1", n)
	}
	close(release)
	testenv.Eventually(t, 2*time.Second, func() bool { return b.State() == cache.BreakerClosed }, "good probe did not close the circuit")
	if _, err := b.Get(ctx, "k"); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("after closing: %v", err)
	}
}
