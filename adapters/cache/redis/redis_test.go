package redis

import (
	"context"
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
	prefix := testenv.Prefix(t)
	s, err := New(Config{Prefix: prefix}, conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		deletePrefix(t, conn, prefix)
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
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
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
