package redis

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tipbox/tipbox/core/queue"
	"github.com/tipbox/tipbox/core/queue/queuetest"
	"github.com/tipbox/tipbox/internal/testenv"
)

// Run: go test -run '^$' -bench . -benchtime 20000x ./adapters/queue/redis/
// (latency benchmarks ignore -benchtime beyond one run).
func openBench(tb testing.TB, qcfg queue.Config) queue.Backend {
	c := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(tb)})
	cfg := testConfig(tb)
	b, err := New(cfg, qcfg, c, queuetest.Logger(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = b.Close()
		deleteKeys(tb, c, cfg.Prefix)
		_ = c.Close()
	})
	return b
}

func BenchmarkEnqueueSingle(b *testing.B)       { queuetest.BenchEnqueueSingle(b, openBench) }
func BenchmarkEnqueueConcurrent50(b *testing.B) { queuetest.BenchEnqueueConcurrent(b, openBench) }
func BenchmarkEnqueueBulk100(b *testing.B)      { queuetest.BenchEnqueueBulk(b, openBench) }
func BenchmarkDrainConcurrency5(b *testing.B)   { queuetest.BenchDrain(b, openBench, 5) }
func BenchmarkDrainConcurrency50(b *testing.B)  { queuetest.BenchDrain(b, openBench, 50) }
func BenchmarkDrainBatchC5(b *testing.B)        { queuetest.BenchDrainBatch(b, openBench, 5) }
func BenchmarkDrainLimitedC5(b *testing.B)      { queuetest.BenchDrainLimited(b, openBench, 5) }
func BenchmarkFairness100Groups(b *testing.B)   { queuetest.BenchFairness(b, openBench) }
func BenchmarkLatency500PerSec(b *testing.B)    { queuetest.BenchLatency(b, openBench, 500) }
func BenchmarkLatency5000PerSec(b *testing.B)   { queuetest.BenchLatency(b, openBench, 5000) }
func BenchmarkJobByID(b *testing.B)             { queuetest.BenchJobByID(b, openBench) }
