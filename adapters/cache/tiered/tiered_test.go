package tiered

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

func sharedConn(t testing.TB) redisconn.Config {
	return redisconn.Config{URL: "redis://" + testenv.RedisAddr(t) + "/0"}
}

// open starts a Store on conn under prefix and waits until its subscription
// is live; cleanup closes it and deletes the keys under prefix.
func open(t testing.TB, conn redisconn.Config, prefix string) *Store {
	t.Helper()
	s, err := New(Config{Prefix: prefix, L1MaxEntries: 1000}, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		c, err := redisconn.NewClient(conn)
		if err != nil {
			return
		}
		defer c.Close()
		if _, ok := c.(*goredis.ClusterClient); ok {
			return // a cluster is started per test and torn down with it
		}
		ctx := context.Background()
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				t.Errorf("delete test keys %s*: %v", prefix, err)
				return
			}
			if len(keys) > 0 {
				if err := c.Del(ctx, keys...).Err(); err != nil {
					t.Errorf("delete test keys %s*: %v", prefix, err)
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	testenv.Eventually(t, 5*time.Second, s.Live, "subscription not live")
	return s
}

func TestContract(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	cachetest.Run(t, func(t *testing.T) cache.Store {
		return open(t, conn, testenv.Prefix(t))
	}, cachetest.Features{})
}

func TestContractCluster(t *testing.T) {
	t.Parallel()
	conn := redisconn.Config{Addrs: testenv.StartRedisCluster(t, 3)}
	cachetest.Run(t, func(t *testing.T) cache.Store {
		s := open(t, conn, testenv.Prefix(t))
		if !s.cluster {
			t.Fatalf("want a cluster client, got %T", s.l2.Client())
		}
		return s
	}, cachetest.Features{})
}

// waitL1 polls, for at most 100 ms from now, until b's L1 no longer holds
// key, and returns how long that took.
func waitL1Evicted(t *testing.T, b *Store, key string) time.Duration {
	t.Helper()
	start := time.Now()
	for b.l1.Contains(key) {
		if time.Since(start) > 100*time.Millisecond {
			t.Fatalf("%s still in the other instance's L1 after %s", key, time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func testCoherence(t *testing.T, conn redisconn.Config) {
	prefix := testenv.Prefix(t)
	a, b := open(t, conn, prefix), open(t, conn, prefix)
	ctx := context.Background()
	const key = "user:1:profile"

	if err := a.Set(ctx, key, []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	// b reads it from Redis into its L1 (a fill that races with the
	// invalidation of a's own write is dropped, hence the poll).
	testenv.Eventually(t, 2*time.Second, func() bool {
		v, err := b.Get(ctx, key)
		if err != nil || string(v) != "v1" {
			t.Fatalf("b.Get = %q, %v", v, err)
		}
		return b.l1.Contains(key)
	}, "b never kept the entry in its L1")

	// An update through a evicts it from b's L1 within 100 ms.
	if err := a.Set(ctx, key, []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	took := waitL1Evicted(t, b, key)
	t.Logf("Set: evicted from the other L1 after %s", took)
	if v, err := b.Get(ctx, key); err != nil || string(v) != "v2" {
		t.Fatalf("b.Get after update = %q, %v; want v2", v, err)
	}
	if !a.l1.Contains(key) {
		t.Fatal("the writer's own L1 lost the entry it wrote")
	}

	// A delete through a, likewise.
	if err := a.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	took = waitL1Evicted(t, b, key)
	t.Logf("Delete: evicted from the other L1 after %s", took)
	if _, err := b.Get(ctx, key); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("b.Get after delete: %v, want ErrMiss", err)
	}
	if _, err := a.Get(ctx, key); !errors.Is(err, cache.ErrMiss) {
		t.Fatalf("a.Get after delete: %v, want ErrMiss", err)
	}
}

func TestCoherenceAcrossInstances(t *testing.T) {
	t.Parallel()
	testCoherence(t, sharedConn(t))
}

func TestCoherenceAcrossInstancesCluster(t *testing.T) {
	t.Parallel()
	testCoherence(t, redisconn.Config{Addrs: testenv.StartRedisCluster(t, 3)})
}

func TestL1NeverOutlivesRedisEntry(t *testing.T) {
	t.Parallel()
	prefix := testenv.Prefix(t)
	conn := sharedConn(t)
	a, b := open(t, conn, prefix), open(t, conn, prefix)
	ctx := context.Background()
	if err := a.Set(ctx, "short", []byte("v"), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "short"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Second, func() bool {
		_, errA := a.Get(ctx, "short")
		_, errB := b.Get(ctx, "short")
		return errors.Is(errA, cache.ErrMiss) && errors.Is(errB, cache.ErrMiss)
	}, "entry with a 200ms TTL still served from an L1")
}

// TestSubscriptionLossTurnsL1Off: while Redis is down the L1 cannot hear
// invalidations, so it is emptied and bypassed; it comes back by itself.
func TestSubscriptionLossTurnsL1Off(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	conn := redisconn.Config{URL: "redis://" + srv.Addr() + "/0"}
	s := open(t, conn, "")
	ctx := context.Background()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	// The subscription drops, then the L1 is emptied.
	testenv.Eventually(t, 5*time.Second, func() bool { return !s.Live() && !s.l1.Contains("k") },
		"subscription still live, or L1 kept its entries, after Redis was killed")
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get with Redis down = %v, want a store error (L1 must not be trusted)", err)
	}
	srv.Start()
	testenv.Eventually(t, 10*time.Second, s.Live, "subscription not live again after Redis restarted")
	if err := s.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "k"); err != nil || !bytes.Equal(v, []byte("v2")) {
		t.Fatalf("Get after restart = %q, %v", v, err)
	}
	if !s.l1.Contains("k") {
		t.Fatal("L1 not used again after the subscription came back")
	}
}

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// On one server a write and its invalidation message share one round
// trip, for Delete (a profile invalidation on every badge grant) as for Set.
func TestWriteIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	prefix := testenv.Prefix(t)
	a, b := open(t, conn, prefix), open(t, conn, prefix)
	var rt roundTrips
	a.l2.Client().AddHook(&rt)
	ctx := context.Background()
	for _, keys := range [][]string{{"k1"}, {"k1", "k2", "k3"}} {
		for _, k := range keys {
			if err := a.Set(ctx, k, []byte("v"), time.Minute); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 2*time.Second, func() bool { _, err := b.Get(ctx, k); return err == nil && b.l1.Contains(k) },
				"%s never reached the other L1", k)
		}
		rt.n.Store(0)
		if err := a.Delete(ctx, keys...); err != nil {
			t.Fatal(err)
		}
		if n := rt.n.Load(); n != 1 {
			t.Fatalf("Delete of %d keys: %d round trips, want 1", len(keys), n)
		}
		for _, k := range keys {
			waitL1Evicted(t, b, k)
		}
	}
	rt.n.Store(0)
	if err := a.Set(ctx, "k1", []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 1 {
		t.Fatalf("Set: %d round trips, want 1", n)
	}
}

// A change made in Redis by something else than a Store (redis-cli, a
// script) reaches the L1s when it is announced on the channel as
// "<anything> <key>" (docs/operations.md).
func TestAnnouncedChangeEvictsL1(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	prefix := testenv.Prefix(t)
	s := open(t, conn, prefix)
	ctx := context.Background()
	if err := s.Set(ctx, "user:7:profile", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if !s.l1.Contains("user:7:profile") {
		t.Fatal("the writer's L1 does not hold what it wrote")
	}
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	defer c.Close()
	if err := c.Set(ctx, prefix+"user:7:profile", "v2", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, prefix+"tipbox:cache:invalidate", "ops user:7:profile").Err(); err != nil {
		t.Fatal(err)
	}
	waitL1Evicted(t, s, "user:7:profile")
	if v, err := s.Get(ctx, "user:7:profile"); err != nil || string(v) != "v2" {
		t.Fatalf("Get after the announced change = %q, %v; want v2", v, err)
	}
}
