package redis

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// With client_cache_entries the store still keeps the Store contract.
func TestContractClientCache(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	cachetest.Run(t, func(t *testing.T) cache.Store {
		return newTestStoreWith(t, conn, Config{Prefix: testenv.Prefix(t), ClientCacheEntries: 1000})
	}, cachetest.Features{})
}

// An entry a store keeps in process is dropped once another client changes
// or deletes the key in Redis.
func TestClientCacheSeesOtherWriters(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	prefix := testenv.Prefix(t)
	local, err := New(Config{Prefix: prefix, ClientCacheEntries: 1000}, conn)
	if err != nil {
		t.Fatal(err)
	}
	other := newTestStoreWithPrefix(t, conn, prefix)
	t.Cleanup(func() { _ = local.Close() })
	ctx := context.Background()
	if err := other.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	reads := func(want string) {
		t.Helper()
		testenv.Eventually(t, 2*time.Second, func() bool {
			v, err := local.Get(ctx, "k")
			return err == nil && bytes.Equal(v, []byte(want))
		}, "local store never read %q", want)
	}
	reads("v1")
	reads("v1") // served locally now
	if err := other.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	reads("v2")
	if err := other.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Second, func() bool {
		_, err := local.Get(ctx, "k")
		return err == cache.ErrMiss
	}, "local store still serves a deleted key")
}

// A store that keeps entries in process reads its own writes: after its Set
// or Delete returns, its Get answers the new value, even while the copy it
// kept was read on another connection than the write's (whose invalidation
// go-redis applies only when it next reads that connection).
func TestClientCacheReadsItsOwnWrites(t *testing.T) {
	t.Parallel()
	s := newTestStoreWith(t, sharedConn(t), Config{Prefix: testenv.Prefix(t), ClientCacheEntries: 1000})
	ctx := context.Background()
	for i := range 50 {
		key := "k" + strconv.Itoa(i)
		if err := s.Set(ctx, key, []byte("v1"), time.Minute); err != nil {
			t.Fatal(err)
		}
		// Read it on several connections at once, so that copies are kept
		// from connections other than the one the next write takes.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if v, err := s.Get(ctx, key); err != nil || string(v) != "v1" {
					t.Errorf("Get %s = %q, %v", key, v, err)
				}
			})
		}
		wg.Wait()
		if err := s.Set(ctx, key, []byte("v2"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, key); err != nil || string(v) != "v2" {
			t.Fatalf("write %d: Get after Set = %q, %v; want v2", i, v, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, key); !errors.Is(err, cache.ErrMiss) {
			t.Fatalf("write %d: Get after Delete = %q, %v; want a miss", i, v, err)
		}
	}
}

// clientCacheOn is the client-side cache as the redis profile turns it on.
func clientCacheOn(prefix string) Config {
	return Config{Prefix: prefix, ClientCacheEntries: 1000}
}

// A change another client makes reaches an idle store's kept copy within
// 100 ms (go-redis reads the invalidation off the idle connection that
// read the key), for updates and deletes alike.
func TestClientCacheCoherenceBound(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	prefix := testenv.Prefix(t)
	local := newTestStoreWith(t, conn, clientCacheOn(prefix))
	other := newTestStoreWithPrefix(t, conn, prefix)
	ctx := context.Background()
	set := func(v string) {
		t.Helper()
		if err := other.Set(ctx, "k", []byte(v), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// seen polls local for at most 100 ms until want holds.
	seen := func(what string, want func(v []byte, err error) bool) {
		t.Helper()
		start := time.Now()
		for {
			v, err := local.Get(ctx, "k")
			if want(v, err) {
				t.Logf("%s seen after %s", what, time.Since(start))
				return
			}
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("%s: still %q, %v after %s", what, v, err, time.Since(start))
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 5 {
		v := "v" + strconv.Itoa(i)
		set(v)
		testenv.Eventually(t, 2*time.Second, func() bool {
			got, err := local.Get(ctx, "k")
			return err == nil && string(got) == v
		}, "local never read %q", v)
		if _, err := local.Get(ctx, "k"); err != nil { // served in process now
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // idle: no read applies the invalidation for it
		next := v + "'"
		set(next)
		seen("update "+next, func(got []byte, err error) bool { return err == nil && string(got) == next })
		if err := other.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		seen("delete", func(_ []byte, err error) bool { return errors.Is(err, cache.ErrMiss) })
	}
}

// A connection Redis drops (CLIENT KILL, a proxy's timeout) can no longer
// carry the invalidations of the keys it read, so what it read is not
// served afterwards: a change made after the kill is read.
func TestClientCacheDropsWhatAKilledConnectionRead(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	conn := redisconn.Config{URL: "redis://" + srv.Addr() + "/0"}
	local := newTestStoreWith(t, conn, clientCacheOn(""))
	ctx := context.Background()
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Protocol: 2})
	t.Cleanup(func() { _ = admin.Close() })
	for i := range 3 {
		old, fresh := "old"+strconv.Itoa(i), "new"+strconv.Itoa(i)
		if err := admin.Set(ctx, "k", old, 0).Err(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 2*time.Second, func() bool {
			v, err := local.Get(ctx, "k")
			return err == nil && string(v) == old
		}, "local never read %q", old)
		if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := admin.Set(ctx, "k", fresh, 0).Err(); err != nil {
			t.Fatal(err)
		}
		// Until go-redis next looks at the connection (a read on it, or
		// its sweep of idle ones) it does not know the connection is gone,
		// as it would not know of an invalidation: the same bound holds.
		// The store may answer an error while it reconnects.
		testenv.Eventually(t, 2*time.Second, func() bool {
			v, err := local.Get(ctx, "k")
			if err == nil && string(v) == old && time.Since(killed) > 100*time.Millisecond {
				t.Fatalf("round %d: %q served %s after its connection was killed and the key changed", i, old, time.Since(killed))
			}
			if err == nil && string(v) == fresh {
				t.Logf("round %d: %q read %s after the kill", i, fresh, time.Since(killed))
				return true
			}
			return false
		}, "local never read %q", fresh)
	}
}

// While Redis does not answer (frozen: connections open, nothing read or
// sent, so no invalidation can arrive), a kept copy is served for at most
// client_cache_ttl after it was read from Redis; then reads go to Redis
// and fail, and the cache-aside answers from the database.
func TestClientCacheTTLBoundsAnUnconfirmedCopy(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	conn := redisconn.Config{URL: "redis://" + srv.Addr() + "/0"}
	cfg := clientCacheOn("")
	cfg.ClientCacheTTL = 300 * time.Millisecond
	cfg.Timeout = 100 * time.Millisecond
	local := newTestStoreWith(t, conn, cfg)
	ctx := context.Background()
	if err := local.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	fetched := time.Now()
	if v, err := local.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := local.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	srv.Freeze()
	t.Cleanup(srv.Thaw)
	var lastServed time.Time
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, err := local.Get(ctx, "k")
		if err == nil {
			lastServed = time.Now()
		}
		return err != nil
	}, "a copy Redis cannot confirm is served for ever")
	if age := lastServed.Sub(fetched); age > cfg.ClientCacheTTL+200*time.Millisecond {
		t.Fatalf("kept copy served %s after it was read, client_cache_ttl %s", age, cfg.ClientCacheTTL)
	}
}

// go-redis keeps a client-side cache for a single node's database 0 only;
// the store asks for none elsewhere (and every read is a round trip).
func TestClientCacheOnlyOnDatabaseZero(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	for _, tc := range []struct {
		conn redisconn.Config
		want bool
	}{
		{redisconn.Config{URL: "redis://" + addr + "/0"}, true},
		{redisconn.Config{URL: "redis://" + addr + "/3"}, false},
		{redisconn.Config{URL: "redis://" + addr, DB: 2}, false},
		{redisconn.Config{Addrs: []string{addr, addr}}, false}, // Cluster
	} {
		s, err := New(clientCacheOn(""), tc.conn)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.local != nil; got != tc.want {
			t.Errorf("%+v: client cache %v, want %v", tc.conn, got, tc.want)
		}
		_ = s.Close()
	}
}

// Invalid client cache settings stop the store with an error naming the key.
func TestClientCacheConfigErrors(t *testing.T) {
	t.Parallel()
	conn := redisconn.Config{URL: "redis://" + testenv.RedisAddr(t) + "/0"}
	for key, cfg := range map[string]Config{
		"client_cache_entries": {ClientCacheEntries: -1},
		"client_cache_ttl":     {ClientCacheEntries: 10, ClientCacheTTL: -time.Second},
		"client_cache_sweep":   {ClientCacheEntries: 10, ClientCacheSweep: time.Microsecond},
	} {
		if _, err := New(cfg, conn); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: New = %v, want an error naming it", key, err)
		}
	}
}
