package redisconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/adapters/redisconn"
	"github.com/tipbox/tipbox/internal/testenv"
)

// A command that waits for a connection of a full pool shows in
// tipbox_redis_pool_waits_total of its client, and the pool's
// connections in the gauges.
func TestPoolsExportWaitsForAConnection(t *testing.T) {
	t.Parallel()
	c, err := redisconn.NewClient(redisconn.Config{URL: "redis://" + testenv.RedisAddr(t) + "/0", PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pools := redisconn.NewPools()
	pools.Add("cache", c)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(pools)

	ctx := context.Background()
	// The one connection blocks in BLPOP on a key nobody writes (it times
	// out by itself after a second and leaves nothing behind) while a PING
	// waits for it: the second leaves room for a slow scheduler between
	// the BLPOP taking the connection and the PING asking for it.
	held := make(chan error, 1)
	go func() { held <- c.BLPop(ctx, time.Second, testenv.Prefix(t)+"never").Err() }()
	testenv.Eventually(t, 10*time.Second, func() bool { return c.PoolStats().IdleConns == 0 && c.PoolStats().TotalConns == 1 },
		"the connection is taken by BLPOP")
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	<-held

	want := `
# HELP tipbox_redis_pool_connections Open connections of the client (its command and pipeline pools).
# TYPE tipbox_redis_pool_connections gauge
tipbox_redis_pool_connections{client="cache"} 1
# HELP tipbox_redis_pool_waits_total Commands that waited for a free connection of the pool.
# TYPE tipbox_redis_pool_waits_total counter
tipbox_redis_pool_waits_total{client="cache"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"tipbox_redis_pool_connections", "tipbox_redis_pool_waits_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "tipbox_redis_pool_wait_seconds_total", "tipbox_redis_pool_idle_connections",
		"tipbox_redis_pool_timeouts_total"); err != nil || n != 3 {
		t.Fatalf("other pool series: %d, %v; want 3", n, err)
	}

	// A pipeline runs on go-redis' pipeline pool: its connection is the
	// client's too.
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { p.Ping(ctx); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tipbox_redis_pool_connections Open connections of the client (its command and pipeline pools).
# TYPE tipbox_redis_pool_connections gauge
tipbox_redis_pool_connections{client="cache"} 2
`), "tipbox_redis_pool_connections"); err != nil {
		t.Fatal(err)
	}

	var none *redisconn.Pools
	none.Add("queue", c) // a nil Pools ignores clients
}
