package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/internal/testenv"
)

type profile struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// counting counts the calls that reach the store.
type counting struct {
	cache.Store
	calls atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	c.calls.Add(1)
	return c.Store.Set(ctx, key, v, ttl)
}

// modes are the store's two ways of reading: a round trip per read, and
// the client-side cache the redis profile turns on. Every fault test runs
// over both.
var modes = []struct {
	name string
	cfg  func(prefix string) Config
}{
	{"round-trip", func(prefix string) Config { return Config{Prefix: prefix} }},
	{"client-cache", clientCacheOn},
}

// eachMode runs test once per mode, in parallel subtests.
func eachMode(t *testing.T, test func(t *testing.T, cfg func(prefix string) Config)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			test(t, m.cfg)
		})
	}
}

// TestRedisKilledDuringReadLoad: with Redis killed under a read load every
// Get still returns the right value (BYPASS, no error), the breaker keeps
// dead-Redis calls away (no call waits for a timeout), and caching resumes
// by itself once Redis is back.
func TestRedisKilledDuringReadLoad(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, cfg func(prefix string) Config) {
		srv := testenv.StartRedis(t)
		conn := redisconn.Config{URL: "redis://" + srv.Addr() + "/0"}
		s := &counting{Store: newTestStoreWith(t, conn, cfg(testenv.Prefix(t)))}
		a := cache.NewAside[profile]("profile", s, cache.AsideOptions{
			TTL:     time.Minute,
			Breaker: cache.BreakerConfig{Failures: 5, OpenFor: 200 * time.Millisecond},
		}, nil, nil)

		var loads atomic.Int64
		load := func(id int) func(context.Context) (profile, error) {
			return func(context.Context) (profile, error) {
				loads.Add(1)
				return profile{ID: id, Name: fmt.Sprint("user", id)}, nil
			}
		}
		type sample struct {
			status cache.Status
			took   time.Duration
			open   bool
		}
		var (
			mu      sync.Mutex
			samples []sample
			phase   atomic.Int32 // 0 up, 1 killed, 2 restarted
			stop    = make(chan struct{})
			wg      sync.WaitGroup
		)
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := (w*31 + i) % 50
					openBefore := a.BreakerState() == cache.BreakerOpen
					start := time.Now()
					v, st, err := a.Get(context.Background(), fmt.Sprintf("user:%d:profile", id), load(id))
					took := time.Since(start)
					if err != nil || v.ID != id || v.Name != fmt.Sprint("user", id) {
						t.Errorf("Get(%d) in phase %d = %+v, %s, %v", id, phase.Load(), v, st, err)
						return
					}
					if phase.Load() == 1 {
						mu.Lock()
						samples = append(samples, sample{st, took, openBefore && a.BreakerState() == cache.BreakerOpen})
						mu.Unlock()
					}
				}
			})
		}
		t.Cleanup(func() {
			select {
			case <-stop:
			default:
				close(stop)
			}
			wg.Wait()
		})

		testenv.Eventually(t, 5*time.Second, func() bool {
			_, st, _ := a.Get(context.Background(), "user:1:profile", load(1))
			return st == cache.StatusHit
		}, "cache never served a hit while Redis was up")

		srv.Kill()
		phase.Store(1)
		testenv.Eventually(t, 5*time.Second, func() bool { return a.BreakerState() == cache.BreakerOpen }, "breaker did not open after Redis died")
		reached := s.calls.Load()
		// Let the load run against the dead Redis for several open/half-open
		// cycles, collecting samples.
		opened := time.Now()
		testenv.Eventually(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(samples) > 2000 && time.Since(opened) > time.Second
		}, "too few samples while Redis was dead")
		probes := s.calls.Load() - reached

		srv.Start()
		phase.Store(2)
		testenv.Eventually(t, 10*time.Second, func() bool {
			_, st, _ := a.Get(context.Background(), "user:2:profile", load(2))
			return st == cache.StatusHit
		}, "caching did not resume after Redis restarted")
		close(stop)
		wg.Wait()

		mu.Lock()
		defer mu.Unlock()
		var openTook, all []time.Duration
		bypass := 0
		for _, s := range samples {
			all = append(all, s.took)
			if s.status == cache.StatusBypass {
				bypass++
			}
			if s.open {
				openTook = append(openTook, s.took)
			}
		}
		if bypass < len(samples)*9/10 {
			t.Errorf("only %d of %d Gets with Redis dead were BYPASS", bypass, len(samples))
		}
		slices.Sort(openTook)
		if len(openTook) == 0 {
			t.Fatal("no samples with the breaker open")
		}
		p99 := openTook[len(openTook)*99/100]
		slices.Sort(all)
		t.Logf("all Gets with Redis dead: p50 %s p99 %s max %s", all[len(all)/2], all[len(all)*99/100], all[len(all)-1])
		t.Logf("Redis dead: %d Gets, %d BYPASS; breaker open: p50 %s p99 %s max %s; %d Gets reached Redis once the breaker was open",
			len(samples), bypass, openTook[len(openTook)/2], p99, openTook[len(openTook)-1], probes)
		// Not a speed assertion: a Get that waited for a Redis timeout would
		// take seconds (dial 2s, read 3s); these are fast failures.
		if max := openTook[len(openTook)-1]; max > time.Second {
			t.Errorf("a Get took %s with the breaker open: it waited on Redis", max)
		}
		// Only calls already past the breaker when it opened (one per worker)
		// may still reach Redis; the probes are background Pings.
		if probes > 4 {
			t.Errorf("%d Gets reached the dead Redis after the breaker opened", probes)
		}
	})
}

// TestConcurrentMissesOneLoad: 100 concurrent misses for one key on a real
// Redis make exactly one load.
func TestConcurrentMissesOneLoad(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, sharedConn(t))
	a := cache.NewAside[profile]("profile", s, cache.AsideOptions{}, nil, nil)
	var loads, started atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			started.Add(1)
			v, _, err := a.Get(context.Background(), "user:9:profile", func(context.Context) (profile, error) {
				loads.Add(1)
				<-release
				return profile{ID: 9}, nil
			})
			if err != nil || v.ID != 9 {
				t.Errorf("Get = %+v, %v", v, err)
			}
		})
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return started.Load() == 100 }, "goroutines not started")
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for 100 concurrent misses, want 1", n)
	}
}

// TestCorruptEntryIsMissAndOverwritten on a real Redis.
func TestCorruptEntryIsMissAndOverwritten(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, cfg func(prefix string) Config) {
		s := newTestStoreWith(t, sharedConn(t), cfg(testenv.Prefix(t)))
		ctx := context.Background()
		if err := s.Client().Set(ctx, s.Key("user:5:profile"), "\x80garbage{", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		a := cache.NewAside[profile]("profile", s, cache.AsideOptions{}, nil, nil)
		v, st, err := a.Get(ctx, "user:5:profile", func(context.Context) (profile, error) { return profile{ID: 5, Name: "eve"}, nil })
		if err != nil || st != cache.StatusMiss || v.Name != "eve" {
			t.Fatalf("Get = %+v, %s, %v; want eve MISS", v, st, err)
		}
		raw, err := s.Client().Get(ctx, s.Key("user:5:profile")).Result()
		if err != nil || raw != `{"id":5,"name":"eve"}` {
			t.Fatalf("raw entry %q, %v: not overwritten", raw, err)
		}
		if _, st, _ := a.Get(ctx, "user:5:profile", nil); st != cache.StatusHit {
			t.Fatalf("status %s after overwrite", st)
		}
	})
}

// TestInvalidateWhileRedisDeadThenRestartedWithData: an entry that outlives
// an outage (Redis restarted with its data) is not served stale when its
// invalidation happened during the outage.
func TestInvalidateDuringOutage(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, cfg func(prefix string) Config) {
		srv := testenv.StartRedis(t)
		conn := redisconn.Config{URL: "redis://" + srv.Addr() + "/0"}
		s := newTestStoreWith(t, conn, cfg(testenv.Prefix(t)))
		a := cache.NewAside[profile]("profile", s, cache.AsideOptions{
			Breaker: cache.BreakerConfig{Failures: 1, OpenFor: 50 * time.Millisecond},
		}, nil, nil)
		ctx := context.Background()
		name := atomic.Value{}
		name.Store("old")
		load := func(context.Context) (profile, error) { return profile{ID: 1, Name: name.Load().(string)}, nil }
		if _, st, _ := a.Get(ctx, "user:1:profile", load); st != cache.StatusMiss {
			t.Fatalf("status %s", st)
		}
		srv.Kill()
		name.Store("new")
		if err := a.Invalidate(ctx, "user:1:profile"); err != nil {
			t.Fatalf("Invalidate with Redis dead = %v, must not fail the write", err)
		}
		srv.Start()
		// The restarted server is empty (testenv keeps nothing on disk); put
		// the stale entry back as a persisted one would be.
		if err := s.Client().Set(ctx, s.Key("user:1:profile"), `{"id":1,"name":"old"}`, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, func() bool {
			v, st, err := a.Get(ctx, "user:1:profile", load)
			if err != nil || v.Name != "new" {
				t.Fatalf("Get = %+v, %s, %v: stale value served after the outage", v, st, err)
			}
			return st != cache.StatusBypass && a.PendingInvalidations() == 0
		}, "pending invalidation not applied after Redis came back")
		if _, err := s.Get(ctx, "user:1:profile"); err != nil && !errors.Is(err, cache.ErrMiss) {
			t.Fatal(err)
		}
	})
}
