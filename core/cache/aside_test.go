package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/internal/testenv"
)

type profile struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

var errNotFound = errors.New("user: not found")

// loader counts its calls and returns profile{id, name}.
type loader struct {
	calls atomic.Int64
	name  atomic.Value
}

func (l *loader) load(id int) func(context.Context) (profile, error) {
	return func(context.Context) (profile, error) {
		l.calls.Add(1)
		name, _ := l.name.Load().(string)
		return profile{ID: id, Name: name}, nil
	}
}

func newAside(t *testing.T, s cache.Store, opts cache.AsideOptions) (*cache.Aside[profile], *cache.Metrics) {
	t.Helper()
	m, err := cache.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return cache.NewAside[profile]("profile", s, opts, nil, m), m
}

func get(t *testing.T, a *cache.Aside[profile], key string, load func(context.Context) (profile, error)) (profile, cache.Status) {
	t.Helper()
	v, st, err := a.Get(context.Background(), key, load)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return v, st
}

func TestAsideMissThenHit(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, m := newAside(t, s, cache.AsideOptions{TTL: time.Minute})
	var l loader
	l.name.Store("ann")
	if v, st := get(t, a, "user:1:profile", l.load(1)); st != cache.StatusMiss || v.Name != "ann" {
		t.Fatalf("first Get = %+v %s, want ann MISS", v, st)
	}
	if g := s.gets.Load(); g != 1 {
		t.Fatalf("a lone miss read the store %d times, want 1", g)
	}
	raw, ttl, ok := s.raw("user:1:profile")
	if !ok || string(raw) != `{"id":1,"name":"ann"}` || ttl != time.Minute {
		t.Fatalf("stored %q ttl %s", raw, ttl)
	}
	if v, st := get(t, a, "user:1:profile", l.load(1)); st != cache.StatusHit || v.Name != "ann" {
		t.Fatalf("second Get = %+v %s, want ann HIT", v, st)
	}
	if n := l.calls.Load(); n != 1 {
		t.Fatalf("loader called %d times, want 1", n)
	}
	if h, mi := testutil.ToFloat64(hits(m)), testutil.ToFloat64(misses(m)); h != 1 || mi != 1 {
		t.Fatalf("hits=%v misses=%v, want 1 and 1", h, mi)
	}
}

func TestAsideConcurrentMissesLoadOnce(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{})
	var calls, started atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (profile, error) {
		calls.Add(1)
		<-release
		return profile{ID: 7}, nil
	}
	var wg sync.WaitGroup
	statuses := make(chan cache.Status, 100)
	for range 100 {
		wg.Go(func() {
			started.Add(1)
			v, st, err := a.Get(context.Background(), "user:7:profile", load)
			if err != nil || v.ID != 7 {
				t.Errorf("Get = %+v, %v", v, err)
			}
			statuses <- st
		})
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return started.Load() == 100 }, "goroutines not started")
	close(release)
	wg.Wait()
	close(statuses)
	if n := calls.Load(); n != 1 {
		t.Fatalf("100 concurrent misses made %d loads, want 1", n)
	}
	for st := range statuses {
		if st != cache.StatusMiss && st != cache.StatusHit {
			t.Fatalf("status %s", st)
		}
	}
}

func TestAsideNegativeCaching(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{NegativeTTL: 100 * time.Millisecond, NotFound: errNotFound})
	var calls atomic.Int64
	load := func(context.Context) (profile, error) {
		calls.Add(1)
		return profile{}, fmt.Errorf("store: %w", errNotFound)
	}
	_, st, err := a.Get(context.Background(), "user:404:profile", load)
	if !errors.Is(err, errNotFound) || st != cache.StatusMiss {
		t.Fatalf("first Get = %s, %v; want MISS, not found", st, err)
	}
	_, st, err = a.Get(context.Background(), "user:404:profile", load)
	if !errors.Is(err, errNotFound) || st != cache.StatusHit {
		t.Fatalf("second Get = %s, %v; want HIT, not found", st, err)
	}
	if calls.Load() != 1 {
		t.Fatalf("loader called %d times, want 1", calls.Load())
	}
	if _, ttl, _ := s.raw("user:404:profile"); ttl != 100*time.Millisecond {
		t.Fatalf("negative entry stored with TTL %s", ttl)
	}
	// Other loader errors are not cached.
	boom := errors.New("db down")
	for range 2 {
		if _, _, err := a.Get(context.Background(), "user:500:profile", func(context.Context) (profile, error) {
			calls.Add(1)
			return profile{}, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("a failing load was cached (calls %d)", calls.Load())
	}
}

func TestAsideNegativeCachingOffByDefault(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{NotFound: errNotFound})
	for range 2 {
		if _, st, err := a.Get(context.Background(), "k", func(context.Context) (profile, error) {
			return profile{}, errNotFound
		}); st != cache.StatusMiss || !errors.Is(err, errNotFound) {
			t.Fatalf("Get = %s, %v", st, err)
		}
	}
}

func TestAsideCorruptEntryIsMissAndOverwritten(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, m := newAside(t, s, cache.AsideOptions{})
	s.put("user:3:profile", []byte(`{"id":"not a number"`))
	var l loader
	l.name.Store("cid")
	if v, st := get(t, a, "user:3:profile", l.load(3)); st != cache.StatusMiss || v.Name != "cid" {
		t.Fatalf("Get over a corrupt entry = %+v %s, want cid MISS", v, st)
	}
	raw, _, _ := s.raw("user:3:profile")
	if string(raw) != `{"id":3,"name":"cid"}` {
		t.Fatalf("corrupt entry not overwritten: %q", raw)
	}
	if _, st := get(t, a, "user:3:profile", l.load(3)); st != cache.StatusHit {
		t.Fatalf("status after overwrite %s", st)
	}
	if n := testutil.ToFloat64(errorsOf(m, "decode")); n != 1 {
		t.Fatalf("decode errors = %v, want 1", n)
	}
}

func TestAsideBypassesDeadStoreAndRecovers(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, m := newAside(t, s, cache.AsideOptions{Breaker: cache.BreakerConfig{Failures: 3, OpenFor: 100 * time.Millisecond}})
	var l loader
	l.name.Store("dee")
	get(t, a, "k", l.load(1)) // cached while up
	s.down.Store(true)
	for i := range 20 {
		v, st := get(t, a, "k", l.load(1))
		if st != cache.StatusBypass || v.Name != "dee" {
			t.Fatalf("Get %d with the store down = %+v %s, want dee BYPASS", i, v, st)
		}
	}
	if a.BreakerState() != cache.BreakerOpen {
		t.Fatalf("breaker %s after 20 failures, want open", a.BreakerState())
	}
	if g := s.gets.Load(); g > 1+3+1 {
		t.Fatalf("store reached %d times with the breaker open, want at most 5", g)
	}
	if n := testutil.ToFloat64(bypasses(m)); n != 20 {
		t.Fatalf("bypasses = %v, want 20", n)
	}
	s.down.Store(false)
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, st := get(t, a, "k", l.load(1))
		return st == cache.StatusHit
	}, "caching did not resume after the store came back")
	if a.BreakerState() != cache.BreakerClosed {
		t.Fatalf("breaker %s, want closed", a.BreakerState())
	}
}

func TestAsideInvalidate(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{})
	var l loader
	l.name.Store("v1")
	get(t, a, "k", l.load(1))
	l.name.Store("v2")
	if err := a.Invalidate(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if v, st := get(t, a, "k", l.load(1)); st != cache.StatusMiss || v.Name != "v2" {
		t.Fatalf("Get after Invalidate = %+v %s, want v2 MISS", v, st)
	}
}

// An invalidation while the cache is down is remembered and applied when it
// is back, so the stale entry is not served once Redis returns.
func TestAsideInvalidateWhileDownIsAppliedLater(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, m := newAside(t, s, cache.AsideOptions{Breaker: cache.BreakerConfig{Failures: 1, OpenFor: 50 * time.Millisecond}})
	var l loader
	l.name.Store("old")
	get(t, a, "k", l.load(1))
	s.down.Store(true)
	l.name.Store("new")
	if err := a.Invalidate(context.Background(), "k"); err != nil {
		t.Fatalf("Invalidate with the cache down returned %v; it must not fail the write", err)
	}
	if a.PendingInvalidations() != 1 {
		t.Fatalf("pending = %d, want 1", a.PendingInvalidations())
	}
	if n := testutil.ToFloat64(errorsOf(m, "delete")); n != 1 {
		t.Fatalf("delete errors = %v", n)
	}
	s.down.Store(false)
	// Redis is back with the stale entry still in it: never served.
	testenv.Eventually(t, 5*time.Second, func() bool {
		v, st := get(t, a, "k", l.load(1))
		if v.Name != "new" {
			t.Fatalf("stale value served after the cache came back: %+v %s", v, st)
		}
		return st != cache.StatusBypass && a.PendingInvalidations() == 0
	}, "pending invalidation never applied")
	raw, _, _ := s.raw("k")
	if !strings.Contains(string(raw), "new") {
		t.Fatalf("store holds %q", raw)
	}
}

// Pending invalidations are flushed in the background when the breaker
// closes, for the benefit of other instances reading the same Redis.
func TestAsidePendingFlushedWhenBreakerCloses(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{Breaker: cache.BreakerConfig{Failures: 1, OpenFor: 20 * time.Millisecond}})
	s.put("other", []byte(`{"id":9}`))
	s.down.Store(true)
	_ = a.Invalidate(context.Background(), "other")
	s.down.Store(false)
	var l loader
	testenv.Eventually(t, 5*time.Second, func() bool {
		get(t, a, "unrelated", l.load(1))
		_, _, ok := s.raw("other")
		return !ok
	}, "pending delete of another key not flushed after recovery")
}

func TestAsideInvalidateDroppedWhenPendingFull(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{MaxPendingInvalidations: 2})
	s.down.Store(true)
	err := a.Invalidate(context.Background(), "a", "b", "c")
	if !errors.Is(err, cache.ErrInvalidationDropped) {
		t.Fatalf("err = %v, want ErrInvalidationDropped", err)
	}
	if a.PendingInvalidations() != 2 {
		t.Fatalf("pending = %d", a.PendingInvalidations())
	}
}

// A load that started before an invalidation of its key must not store its
// possibly stale result.
func TestAsideLoadRacingInvalidateNotStored(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{})
	inLoad, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = a.Get(context.Background(), "k", func(context.Context) (profile, error) {
			close(inLoad)
			<-release
			return profile{Name: "stale"}, nil
		})
	}()
	<-inLoad
	if err := a.Invalidate(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	if raw, _, ok := s.raw("k"); ok {
		t.Fatalf("stale load stored after an invalidation: %q", raw)
	}
}

func TestAsideJitter(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{TTL: time.Hour, Jitter: 0.2})
	var l loader
	seen := map[time.Duration]bool{}
	for i := range 50 {
		k := fmt.Sprint(i)
		get(t, a, k, l.load(i))
		_, ttl, _ := s.raw(k)
		if ttl > time.Hour || ttl < 48*time.Minute {
			t.Fatalf("TTL %s outside [48m, 1h]", ttl)
		}
		seen[ttl] = true
	}
	if len(seen) < 40 {
		t.Fatalf("only %d distinct TTLs over 50 entries", len(seen))
	}
}

func TestAsideLoaderPanicIsAnError(t *testing.T) {
	t.Parallel()
	a, _ := newAside(t, newFakeStore(), cache.AsideOptions{})
	_, _, err := a.Get(context.Background(), "k", func(context.Context) (profile, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
}

func TestAsideCallerContextEnds(t *testing.T) {
	t.Parallel()
	a, _ := newAside(t, newFakeStore(), cache.AsideOptions{})
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := a.Get(ctx, "k", func(ctx context.Context) (profile, error) {
			select {
			case <-release:
				return profile{}, nil
			case <-ctx.Done(): // the only caller left: the load is cancelled
				return profile{}, ctx.Err()
			}
		})
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A caller that gives up does not cancel a load others still wait for.
func TestAsideSharedLoadOutlivesOneCaller(t *testing.T) {
	t.Parallel()
	a, _ := newAside(t, newFakeStore(), cache.AsideOptions{})
	inLoad, release := make(chan struct{}), make(chan struct{})
	load := func(ctx context.Context) (profile, error) {
		close(inLoad)
		select {
		case <-release:
			return profile{ID: 1}, nil
		case <-ctx.Done():
			return profile{}, ctx.Err()
		}
	}
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, _, err := a.Get(leaderCtx, "k", load)
		leader <- err
	}()
	<-inLoad
	waiter := make(chan profile, 1)
	go func() {
		v, _, err := a.Get(context.Background(), "k", load)
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiter <- v
	}()
	testenv.Eventually(t, 5*time.Second, func() bool { return cache.FlightRefs(a, "k") == 2 }, "waiter did not join the load")
	cancelLeader()
	close(release)
	if v := <-waiter; v.ID != 1 {
		t.Fatalf("waiter got %+v", v)
	}
	<-leader
}

func TestAsideBreakerDisabled(t *testing.T) {
	t.Parallel()
	s := newFakeStore()
	a, _ := newAside(t, s, cache.AsideOptions{Breaker: cache.BreakerConfig{Failures: -1}})
	s.down.Store(true)
	var l loader
	for range 10 {
		if _, st := get(t, a, "k", l.load(1)); st != cache.StatusBypass {
			t.Fatalf("status %s", st)
		}
	}
	if g := s.gets.Load(); g != 10 {
		t.Fatalf("store reached %d times, want 10 (no breaker)", g)
	}
}

func hits(m *cache.Metrics) prometheus.Collector   { return cache.MetricFor(m, "hits", "profile") }
func misses(m *cache.Metrics) prometheus.Collector { return cache.MetricFor(m, "misses", "profile") }
func bypasses(m *cache.Metrics) prometheus.Collector {
	return cache.MetricFor(m, "bypasses", "profile")
}
func errorsOf(m *cache.Metrics, op string) prometheus.Collector {
	return cache.MetricFor(m, "errors", "profile", op)
}
