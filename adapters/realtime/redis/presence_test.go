package redis_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/realtime/redis"
	"github.com/tipbox/tipbox/internal/testenv"
)

// Two instances' counts add up; a crashed instance (its Redis connection
// gone, nothing removed) stops counting within presence_ttl; a closed one
// removes its counts at once.
func TestPresenceAcrossInstancesAndAfterACrash(t *testing.T) {
	t.Parallel()
	addr, prefix := testenv.RedisAddr(t), testenv.Prefix(t)
	t.Cleanup(func() { testenv.DeleteKeys(t, addr, prefix) }) // runs after the stores' Close
	const ttl = 1500 * time.Millisecond
	log := slog.New(slog.DiscardHandler)
	open := func() (*redis.Presence, *goredis.Client) {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		p := redis.NewPresence(c, prefix, ttl, log)
		t.Cleanup(func() { _ = p.Close() })
		return p, c
	}
	a, _ := open()
	b, bClient := open()
	reader, _ := open()
	ctx := context.Background()
	count := func(user int64) int {
		t.Helper()
		n, err := reader.Count(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a.Set(7, 2)
	b.Set(7, 1)
	testenv.Eventually(t, 5*time.Second, func() bool { return count(7) == 3 }, "7 does not have 3 sockets")

	_ = bClient.Close() // B crashes: it can no longer write or remove anything
	crashed := time.Now()
	testenv.Eventually(t, 5*time.Second, func() bool { return count(7) == 2 }, "B's socket still counted")
	if d := time.Since(crashed); d > ttl+500*time.Millisecond {
		t.Fatalf("B's socket counted %s after the crash, presence_ttl is %s", d, ttl)
	}

	a.Set(8, 1)
	testenv.Eventually(t, 5*time.Second, func() bool { return count(8) == 1 }, "8 not online")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(7) + count(8); n != 0 {
		t.Fatalf("a closed instance still counts %d sockets", n)
	}
}
