package redis

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// testConfig is the driver config tests use: unique keys, quick ticks.
func testConfig(t testing.TB) Config {
	cfg := Config{Prefix: testenv.Prefix(t), PromoteInterval: 5 * time.Millisecond,
		MinIdleTime: time.Second, ClaimInterval: 50 * time.Millisecond}
	cfg.SetDefaults()
	return cfg
}

// deleteKeys removes every key under prefix (on every master of a cluster).
func deleteKeys(t testing.TB, c goredis.UniversalClient, prefix string) {
	ctx := context.Background()
	del := func(ctx context.Context, c *goredis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		return iter.Err()
	}
	var err error
	switch cc := c.(type) {
	case *goredis.ClusterClient:
		err = cc.ForEachMaster(ctx, del)
	case *goredis.Client:
		err = del(ctx, cc)
	}
	if err != nil {
		t.Logf("delete test keys: %v", err)
	}
}

// openTestBackend opens a backend with testConfig over c for qcfg; at
// cleanup it closes the backend, deletes the test's keys and closes c.
func openTestBackend(t testing.TB, c goredis.UniversalClient, qcfg queue.Config) (*Backend, Config) {
	t.Helper()
	cfg := testConfig(t)
	b, err := New(cfg, qcfg, c, queuetest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		deleteKeys(t, c, cfg.Prefix)
		_ = c.Close()
	})
	return b, cfg
}

// harness runs the semantics suite on backends over newClient.
func harness(newClient func(t *testing.T) goredis.UniversalClient) queuetest.Harness {
	return queuetest.Harness{
		NewBackend: func(t *testing.T, qcfg queue.Config) queue.Backend {
			b, _ := openTestBackend(t, newClient(t), qcfg)
			return b
		},
		InjectUndecodable: func(t *testing.T, qb queue.Backend, q string) {
			b := qb.(*Backend)
			ctx := context.Background()
			list := b.keys[q].waiting[1]
			// Like `redis-cli LPUSH list garbage`: not even a job element.
			if err := b.client.LPush(ctx, list, "garbage").Err(); err != nil {
				t.Fatal(err)
			}
			// An element whose job record is not a record.
			if err := b.client.HSet(ctx, b.keys[q].jobs, "hand-1", "not json").Err(); err != nil {
				t.Fatal(err)
			}
			if err := b.client.LPush(ctx, list, "0:hand-1").Err(); err != nil {
				t.Fatal(err)
			}
			// Two unreadable delayed jobs, due now: each is dead-lettered
			// under its own id.
			for _, id := range []string{"hand-2", "hand-3"} {
				if err := b.client.HSet(ctx, b.keys[q].jobs, id, "{}").Err(); err != nil {
					t.Fatal(err)
				}
				if err := b.client.ZAdd(ctx, b.keys[q].delayed, goredis.Z{Score: 0, Member: id}).Err(); err != nil {
					t.Fatal(err)
				}
			}
		},
		Slow: 1.5,
	}
}
