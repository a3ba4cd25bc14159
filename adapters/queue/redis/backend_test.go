package redis

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

func TestSemantics(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	queuetest.Run(t, harness(func(t *testing.T) goredis.UniversalClient {
		return goredis.NewClient(&goredis.Options{Addr: addr})
	}))
}

// TestSemanticsOnCluster runs the same suite on a local 3-master cluster:
// it passes only because every key of a queue shares its hash tag.
func TestSemanticsOnCluster(t *testing.T) {
	t.Parallel()
	addrs := testenv.StartRedisCluster(t, 3) // lives until every subtest ends
	queuetest.Run(t, harness(func(t *testing.T) goredis.UniversalClient {
		return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	}))
}
