package redisstream

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/internal/testenv"
)

// testLogger logs warnings and errors only, so failures explain themselves
// without drowning the output.
func testLogger() watermill.LoggerAdapter {
	return watermill.NewSlogLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// backend creates Redis clients for one test: the shared server or a local
// cluster. Each client is closed when the test ends.
type backend struct {
	name    string
	cluster []string
	addr    string
}

func (b backend) client(t testing.TB) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if b.cluster != nil {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: b.cluster})
	} else {
		c = redis.NewClient(&redis.Options{Addr: b.addr})
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping %s: %v", b.name, err)
	}
	return c
}

func sharedBackend(t testing.TB) backend {
	return backend{name: "redis", addr: testenv.RedisAddr(t)}
}

func clusterBackend(t testing.TB) backend {
	return backend{name: "cluster", cluster: testenv.StartRedisCluster(t, 3)}
}

// cleanupKeys deletes the given keys when the test ends (shared Redis hygiene).
func cleanupKeys(t testing.TB, c redis.UniversalClient, keys ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, k := range keys {
			_ = c.Del(ctx, k).Err()
		}
	})
}

func mustPublisher(t testing.TB, c redis.UniversalClient, cfg PublisherConfig) *Publisher {
	t.Helper()
	p, err := NewPublisher(cfg, c, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func mustSubscriber(t testing.TB, c redis.UniversalClient, cfg SubscriberConfig) *Subscriber {
	t.Helper()
	s, err := NewSubscriber(cfg, c, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// receive waits up to timeout for one message.
func receive(t testing.TB, ch <-chan *message.Message, timeout time.Duration) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("messages channel closed")
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
		return nil
	}
}

func newMsgs(n int, prefix string) []*message.Message {
	out := make([]*message.Message, n)
	for i := range out {
		out[i] = message.NewMessage(prefix+watermill.NewShortUUID(), []byte(`{"n":1}`))
	}
	return out
}

func pendingCount(t testing.TB, c redis.UniversalClient, topic, group string) int64 {
	t.Helper()
	p, err := c.XPending(context.Background(), topic, group).Result()
	if err != nil {
		t.Fatalf("xpending: %v", err)
	}
	return p.Count
}
