package redis

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/cache"
	"github.com/tipbox/tipbox/core/cache/cachetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// newTestStore opens a Store on conn under a fresh prefix; cleanup closes it
// and deletes every key under the prefix with a separate client (the store
// may already be closed by the test).
func newTestStore(t testing.TB, conn redisconn.Config) *Store {
	t.Helper()
	return newTestStoreWithPrefix(t, conn, testenv.Prefix(t))
}

func newTestStoreWithPrefix(t testing.TB, conn redisconn.Config, prefix string) *Store {
	t.Helper()
	return newTestStoreWith(t, conn, Config{Prefix: prefix})
}

// newTestStoreWith opens a Store with cfg; cleanup closes it and deletes
// every key under cfg.Prefix.
func newTestStoreWith(t testing.TB, conn redisconn.Config, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg, conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		deletePrefix(t, conn, cfg.Prefix)
	})
	return s
}

func deletePrefix(t testing.TB, conn redisconn.Config, prefix string) {
	c, err := redisconn.NewClient(conn)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	del := func(ctx context.Context, node goredis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				// One DEL per key (a page may span cluster slots), pipelined.
				if _, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
					for _, k := range keys {
						p.Del(ctx, k)
					}
					return nil
				}); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := c.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return del(ctx, n) })
	} else {
		err = del(ctx, c)
	}
	if err != nil {
		t.Errorf("delete test keys %s*: %v", prefix, err)
	}
}

func sharedConn(t testing.TB) redisconn.Config {
	return redisconn.Config{URL: "redis://" + testenv.RedisAddr(t) + "/0"}
}

func TestContractSingle(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	cachetest.Run(t, func(t *testing.T) cache.Store { return newTestStore(t, conn) }, cachetest.Features{})
}

func TestContractCluster(t *testing.T) {
	t.Parallel()
	conn := redisconn.Config{Addrs: testenv.StartRedisCluster(t, 3)}
	cachetest.Run(t, func(t *testing.T) cache.Store {
		s := newTestStore(t, conn)
		if !s.cluster {
			t.Fatalf("client is %T, want a cluster client", s.client)
		}
		return s
	}, cachetest.Features{})
}

func TestKeysArePlainJSONUnderPrefix(t *testing.T) {
	t.Parallel()
	conn := sharedConn(t)
	s := newTestStore(t, conn)
	ctx := context.Background()
	if err := s.Set(ctx, "user:7:profile", []byte(`{"id":7}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client().Get(ctx, s.Key("user:7:profile")).Result()
	if err != nil || got != `{"id":7}` {
		t.Fatalf("raw GET = %q, %v", got, err)
	}
	ttl := s.Client().PTTL(ctx, s.Key("user:7:profile")).Val()
	if ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("PTTL = %s, want about 1m", ttl)
	}
	v, rem, err := s.GetWithTTL(ctx, "user:7:profile")
	if err != nil || string(v) != `{"id":7}` || rem <= 50*time.Second {
		t.Fatalf("GetWithTTL = %q, %s, %v", v, rem, err)
	}
	if _, _, err := s.GetWithTTL(ctx, "nope"); err != cache.ErrMiss {
		t.Fatalf("GetWithTTL(missing) err = %v, want ErrMiss", err)
	}
}

// TestHungServerTimesOut: a server that accepts connections and never
// answers costs one Timeout per call, not the redis section's 3s.
func TestHungServerTimesOut(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, never answer
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	s, err := New(Config{Timeout: 100 * time.Millisecond}, redisconn.Config{
		URL: "redis://" + ln.Addr().String() + "/0", ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = s.Get(context.Background(), "k")
	if err == nil || errors.Is(err, cache.ErrMiss) {
		t.Fatalf("Get from a hung server = %v, want an error", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Get took %s: the 100ms cache timeout was not applied", el)
	}
}
