package redis_test

import (
	"context"
	"testing"

	ratelimitredis "github.com/tipbox/tipbox/adapters/ratelimit/redis"
	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/internal/testenv"
)

func limiter(t *testing.T, addr, prefix string, rps, burst int) *ratelimitredis.Limiter {
	t.Helper()
	l, err := ratelimitredis.New(httpserver.RateLimitConfig{RPS: &rps, Burst: &burst, Prefix: prefix},
		redisconn.Config{URL: "redis://" + addr + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Two limiters on one Redis (two API instances) draw from one bucket per
// caller; other callers have their own.
func TestSharedBucket(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { testenv.DeleteKeys(t, addr, "rate:"+prefix) })
	a, b := limiter(t, addr, prefix, 1, 10), limiter(t, addr, prefix, 1, 10)
	ctx := context.Background()
	allowed := 0
	for i := range 30 {
		l := a
		if i%2 == 1 {
			l = b
		}
		res, err := l.Allow(ctx, "user:1")
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed {
			allowed++
		} else if res.RetryAfter <= 0 {
			t.Fatalf("refused without RetryAfter: %+v", res)
		}
	}
	// 10 of burst, plus at most one or two refilled while the loop ran.
	if allowed < 10 || allowed > 12 {
		t.Fatalf("%d of 30 allowed across two limiters, want 10–12", allowed)
	}
	if res, err := b.Allow(ctx, "user:2"); err != nil || !res.Allowed {
		t.Fatalf("another caller: %+v %v", res, err)
	}
}

// A Redis that is gone is an error (the server then limits per process),
// not a hang.
func TestDeadRedisFails(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	l := limiter(t, r.Addr(), testenv.Prefix(t), 1, 1)
	r.Kill()
	if _, err := l.Allow(context.Background(), "user:1"); err == nil {
		t.Fatal("no error from a dead Redis")
	}
}
